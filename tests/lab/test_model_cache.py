"""The lab keeps a bounded number of models in memory (settings.LAB_MAX_LOADED_MODELS)."""
from django.urls import reverse


def test_loaded_models_are_bounded(alice_client, alice, make_lab_run, gpt2_vocab_model_dir, settings):
    from training.engine import configure_inference, inference

    settings.LAB_MAX_LOADED_MODELS = 1
    first = make_lab_run(alice)
    second = make_lab_run(alice, model_dir=gpt2_vocab_model_dir)
    try:
        for run in (first, second, first):
            response = alice_client.get(reverse("lab:api_next_token"), {"model": str(run.code), "prompt": "a"})
            assert response.status_code == 200
            assert len(inference._models) == 1
    finally:
        configure_inference(max_models=inference.DEFAULT_MODEL_CACHE_SIZE)
