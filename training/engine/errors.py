"""Errors the engine raises. Each carries a stable `code` and `params` so the Django app can
show a translated message; `str()` is a plain English sentence for logs."""


class EngineError(Exception):
    code = "engine_error"

    def __init__(self, message: str, *, code: str | None = None, params: dict | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.params = dict(params or {})

    def to_dict(self) -> dict:
        return {"code": self.code, "params": self.params, "message": str(self)}


class DatasetError(EngineError):
    code = "invalid_dataset"


class BaseModelMissing(EngineError):
    code = "base_missing"


class TrainingCancelled(EngineError):
    code = "cancelled"


class OutOfMemory(EngineError):
    code = "out_of_memory"
