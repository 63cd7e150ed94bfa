"""An inference worker keeps a bounded number of models loaded (settings.INFERENCE_MAX_LOADED_MODELS).

The worker runs here, in this process, on a queue of its own (burst mode), so that the test
can look at the engine's cache it filled."""
from rq import Queue

from training.inference import JOB_FUNCTION, connection
from training.worker import InferenceWorker


def test_loaded_models_are_bounded(settings, scratch_model_dir, gpt2_vocab_model_dir):
    from training.engine import configure_inference, inference

    settings.INFERENCE_MAX_LOADED_MODELS = 1
    queue = Queue("inference-cache-test", connection=connection())
    queue.empty()
    try:
        for model_dir in (scratch_model_dir, gpt2_vocab_model_dir, scratch_model_dir):
            job = queue.enqueue_call(JOB_FUNCTION, args=("attention", {"model_dir": model_dir, "text": "a",
                                                                       "max_tokens": 4}))
            InferenceWorker([queue], connection=queue.connection).work(burst=True)
            assert job.latest_result().return_value["result"]["tokens"]
            assert len(inference._models) == 1
            assert next(reversed(inference._models))[0] == str(__import__("os").path.realpath(model_dir))
    finally:
        configure_inference(max_models=inference.DEFAULT_MODEL_CACHE_SIZE)
        queue.empty()
