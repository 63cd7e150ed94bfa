"""Instruction datasets: one conversation per JSONL line, checked with messages a student can act on.

The format is `{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}`;
the common Alpaca form `{"instruction": ..., "input": ..., "output": ...}` is read as a user
turn (the instruction, then the input after a blank line) and an assistant turn (the output).

`check_instructions(text)` is pure: the raw text in, an `InstructionReport` out (figures,
problems with their line numbers, and how many conversations a block would cut). It never
raises on bad content, so a background check can store its report as it is.
"""
import json
from dataclasses import asdict, dataclass, field

from .chat import CHAT_TOKENS
from .errors import DatasetError

ROLES = ("system", "user", "assistant")
INSTRUCTION_KEYS = ("messages", "instruction")
# The chat template's own tokens: inside a message they would end it early.
RESERVED = tuple(CHAT_TOKENS)
MAX_PROBLEMS = 20  # problems listed in a report (the count says how many there were)


@dataclass
class InstructionReport:
    examples: int = 0  # conversations read without a problem
    lines: int = 0  # non-empty lines
    format: str = ""  # "messages" | "alpaca" | "mixed"
    turns: int = 0
    chars: int = 0  # characters of all contents
    answer_chars: int = 0  # characters of the assistant's contents
    problems: list = field(default_factory=list)  # [{"code", "line", "params", "message"}], first MAX_PROBLEMS
    problem_count: int = 0
    # Filled by measure_lengths (needs a tokenizer): tokens with the chat template applied.
    tokens: int = 0
    answer_tokens: int = 0
    longest_tokens: int = 0
    block_size: int = 0
    too_long: int = 0  # conversations longer than block_size: their beginnings are cut (see chat.pack)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0 and self.examples > 0

    def to_dict(self) -> dict:
        return asdict(self)


def looks_like_instructions(text: str) -> bool:
    """Whether a .jsonl text is an instruction dataset: its first object has "messages" or "instruction"."""
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and any(key in record for key in INSTRUCTION_KEYS)
    return False


def parse_line(record) -> tuple[list[dict] | None, str, list[tuple[str, dict, str]]]:
    """(messages or None, "messages" | "alpaca", problems as (code, params, English message))."""
    if not isinstance(record, dict):
        return None, "", [("instr_not_object", {}, "The line is not a JSON object.")]
    if "messages" in record:
        return _messages(record["messages"])
    if "instruction" in record or "output" in record:
        return _alpaca(record)
    return None, "", [("instr_no_messages", {}, 'The object has neither "messages" nor "instruction" and "output".')]


def _messages(value):
    if not isinstance(value, list) or not value:
        return None, "messages", [("instr_messages_not_list", {},
                                   '"messages" must be a non-empty list of {"role", "content"} objects.')]
    problems, messages = [], []
    for turn, message in enumerate(value, start=1):
        if not isinstance(message, dict) or "role" not in message:
            problems.append(("instr_missing_role", {"turn": turn}, f'Message {turn} has no "role".'))
            continue
        role = message["role"]
        if role not in ROLES:
            problems.append(("instr_unknown_role", {"turn": turn, "role": str(role)[:40]},
                             f"Message {turn} has the role {str(role)[:40]!r}: use system, user or assistant."))
            continue
        content = message.get("content")
        if not isinstance(content, str):
            problems.append(("instr_missing_content", {"turn": turn},
                             f'Message {turn} has no "content" text.'))
            continue
        reserved = next((token for token in RESERVED if token in content), None)
        if reserved:
            problems.append(("instr_reserved_token", {"turn": turn, "token": reserved},
                             f"Message {turn} contains {reserved}, a token the chat template reserves."))
            continue
        if role == "assistant" and not content.strip():
            problems.append(("instr_empty_answer", {"turn": turn}, f"Message {turn}, the assistant's answer, is empty."))
            continue
        messages.append({"role": role, "content": content})
    if not problems and not any(m["role"] == "assistant" for m in messages):
        problems.append(("instr_no_assistant", {}, "The conversation has no assistant turn: nothing to learn."))
    if not problems and messages[-1]["role"] != "assistant":
        problems.append(("instr_ends_without_answer", {},
                         "The conversation ends with a question: its last message must be the assistant's."))
    return (None if problems else messages), "messages", problems


def _alpaca(record):
    instruction, extra, output = record.get("instruction"), record.get("input", ""), record.get("output")
    problems = []
    if not isinstance(instruction, str) or not instruction.strip():
        problems.append(("instr_missing_instruction", {}, 'The "instruction" is missing or empty.'))
    if extra is not None and not isinstance(extra, str):
        problems.append(("instr_missing_content", {"turn": 1}, 'The "input" must be text.'))
    if not isinstance(output, str) or not output.strip():
        problems.append(("instr_empty_answer", {"turn": 2}, 'The "output", the answer, is missing or empty.'))
    texts = [value for value in (instruction, extra, output) if isinstance(value, str)]
    reserved = next((token for token in RESERVED for text in texts if token in text), None)
    if reserved:
        problems.append(("instr_reserved_token", {"turn": 1, "token": reserved},
                         f"The line contains {reserved}, a token the chat template reserves."))
    if problems:
        return None, "alpaca", problems
    user = instruction if not (extra or "").strip() else f"{instruction}\n\n{extra}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}], "alpaca", []


def parse_instructions(text: str, *, max_problems: int = MAX_PROBLEMS):
    """(conversations, report): every valid line's messages, and the report of the whole text."""
    report = InstructionReport()
    conversations, formats = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            record = json.loads(line)
        except ValueError:
            _problem(report, number, "instr_invalid_json", {}, "The line is not valid JSON.", max_problems)
            continue
        messages, kind, problems = parse_line(record)
        for code, params, message in problems:
            _problem(report, number, code, params, message, max_problems)
        if messages is None:
            continue
        formats.add(kind)
        conversations.append(messages)
        report.turns += len(messages)
        report.chars += sum(len(m["content"]) for m in messages)
        report.answer_chars += sum(len(m["content"]) for m in messages if m["role"] == "assistant")
    report.examples = len(conversations)
    report.format = formats.pop() if len(formats) == 1 else ("mixed" if formats else "")
    if not report.lines:
        _problem(report, 0, "instr_empty", {}, "The file holds no conversation.", max_problems)
    return conversations, report


def _problem(report: InstructionReport, line: int, code: str, params: dict, message: str, limit: int) -> None:
    report.problem_count += 1
    if len(report.problems) < limit:
        report.problems.append({"code": code, "line": line, "params": params,
                                "message": f"Line {line}: {message}" if line else message})


def check_instructions(text: str, *, tokenizer=None, block_size: int = 128,
                       max_problems: int = MAX_PROBLEMS) -> InstructionReport:
    """The report of an instruction dataset's raw text: its problems (line, code, params) and,
    with a tokenizer (made ready with chat.chat_tokenizer), tokens and how many conversations
    are longer than `block_size` (they would be cut). Pure: never raises on bad content."""
    conversations, report = parse_instructions(text, max_problems=max_problems)
    if tokenizer is not None and conversations:
        measure_lengths(report, conversations, tokenizer, block_size=block_size)
    return report


def measure_lengths(report: InstructionReport, conversations, tokenizer, *, block_size: int) -> None:
    from .chat import encode_conversation

    report.block_size = block_size
    for messages in conversations:
        ids, labels = encode_conversation(tokenizer, messages)
        report.tokens += len(ids)
        report.answer_tokens += sum(1 for label in labels if label != -100)
        report.longest_tokens = max(report.longest_tokens, len(ids))
        report.too_long += len(ids) > block_size


def first_problem_error(report: InstructionReport) -> DatasetError:
    problem = report.problems[0] if report.problems else {"code": "instr_empty", "line": 0, "params": {},
                                                          "message": "The file holds no conversation."}
    return DatasetError(problem["message"], code=problem["code"],
                        params={"line": problem["line"], **problem["params"]})


def read_instructions(path: str, *, max_bytes: int) -> tuple[list[list[dict]], InstructionReport]:
    """The conversations of a stored instruction dataset; DatasetError on its first problem."""
    import os

    from .corpus import _decode

    size = os.path.getsize(path)
    if size > max_bytes:
        raise DatasetError(f"The file is too large: {size} bytes, the limit is {max_bytes} bytes.",
                           code="too_large", params={"bytes": size, "max_bytes": max_bytes})
    with open(path, "rb") as f:
        text = _decode(f.read())
    conversations, report = parse_instructions(text)
    if not report.ok:
        raise first_problem_error(report)
    return conversations, report
