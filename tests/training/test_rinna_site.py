"""rinna's Japanese GPT-2 through the site, on the local stand-in behind a fake hub (only
huggingface_hub.snapshot_download is replaced): seeded as absent, downloaded with the command,
then a real run, the playground, the lab's token view and the archive read back by transformers."""
import io
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from tests.factories import HAIKU_DIARY, make_checked_dataset, upload
from training import jobs, services
from training.models import BaseModel, TrainingRun

HUB_ID = "rinna/japanese-gpt2-small"
RINNA_SOURCES = {"rinna/japanese-gpt2-xsmall", "rinna/japanese-gpt2-small", "rinna/japanese-gpt2-medium"}


def test_seeded_as_absent_until_the_command_downloads_it(db, fake_hub, rinna_standin_dir, client, alice):
    call_command("seed_training", stdout=io.StringIO())
    rinna = {base.source: base for base in BaseModel.objects.filter(source__in=RINNA_SOURCES)}
    assert set(rinna) == RINNA_SOURCES
    assert all(base.language == "ja" and base.kind == BaseModel.PRETRAINED and not base.is_present
               for base in rinna.values())
    fake_hub.add(HUB_ID, rinna_standin_dir)
    out = io.StringIO()
    call_command("download_base_model", HUB_ID, stdout=out)
    assert "is now present" in out.getvalue()
    assert BaseModel.objects.filter(source=HUB_ID).count() == 1  # the seeded row, not a second one
    assert BaseModel.objects.get(source=HUB_ID).is_present
    assert not BaseModel.objects.get(source="rinna/japanese-gpt2-medium").is_present
    # Japanese names in the Japanese interface, the seeded English name otherwise.
    with translation.override("ja"):
        assert str(rinna[HUB_ID]) == "日本語 GPT-2 small（rinna）"
    with translation.override("en"):
        assert str(rinna[HUB_ID]) == "Japanese GPT-2 small (rinna)"
    alice.preferred_language = "ja"
    alice.save()
    client.force_login(alice)
    page = client.get(reverse("training:run_new"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "日本語 GPT-2 small（rinna） · 110M" in page
    assert "日本語 GPT-2 medium（rinna）" in page and "download_base_model rinna/japanese-gpt2-medium" in page


def test_a_local_pickle_only_directory_becomes_a_base(db, rinna_pickled_dir, tmp_path):
    import shutil

    directory = tmp_path / "my-rinna"
    shutil.copytree(rinna_pickled_dir, directory)
    call_command("download_base_model", str(directory), stdout=io.StringIO())
    base = BaseModel.objects.get(source=str(directory))
    assert base.is_present and base.kind == BaseModel.PRETRAINED and base.key == "my-rinna"
    assert (directory / "model.safetensors").is_file()


@pytest.mark.django_db(transaction=True)
def test_a_run_on_rinna_end_to_end(alice, fake_hub, rinna_standin_dir, fast_runs, redis_conn, inference_worker, client,
                                   tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.engine.tokenization import load_tokenizer

    call_command("seed_training", stdout=io.StringIO())
    fake_hub.add(HUB_ID, rinna_standin_dir)
    call_command("download_base_model", HUB_ID, stdout=io.StringIO())
    base = BaseModel.objects.get(source=HUB_ID)
    dataset = make_checked_dataset(alice, upload(
        "haiku.txt", HAIKU_DIARY.read_text(encoding="utf-8")[:8000].encode()))
    # The check counted the text with rinna's own tokenizer too, and the plan uses that count.
    assert 0 < dataset.tokens_for(base.engine_key) < dataset.tokens
    plan = services.run_plan(owner=alice, dataset=dataset, base_model=base, options={"max_steps": 6})
    assert plan["budget"] <= dataset.tokens_for(base.engine_key)
    run = services.training_run_create(owner=alice, dataset=dataset, base_model=base,
                                       extra={"max_steps": 6, "sample_prompts": ["今日の一句"]})
    calls = len(fake_hub.calls)
    assert jobs.run_training(run.pk, 1) == "succeeded"
    assert len(fake_hub.calls) == calls  # the worker never downloads
    run.refresh_from_db()
    assert run.status == TrainingRun.SUCCEEDED and run.metrics["data"]["vocab_size"] == 600
    client.force_login(alice)
    assert client.get(reverse("training:run_detail", args=[run.code])).status_code == 200
    # Playground.
    response = client.post(reverse("training:run_playground", args=[run.code]),
                           {"prompt": "今日の一句", "temperature": 1, "top_k": 20, "top_p": 0.95,
                            "max_new_tokens": 10}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "今日の一句" in response.content.decode()
    assert "&lt;/s&gt;" not in response.content.decode()
    # The lab's tokenizer view, side by side with GPT-2: spans that cover the text once.
    text = "今日の一句\n寒の月"
    data = client.post(reverse("lab:api_tokenize"), {"text": text, "model": str(run.code)}).json()
    gpt2, own = data["tokenizers"]
    assert own["vocab_size"] == 600 and not own["same_as_gpt2"] and own["count"] < gpt2["count"]
    assert [t["id"] for t in own["tokens"]] == load_tokenizer(str(run.export_dir))(
        text, add_special_tokens=False)["input_ids"]
    covered = b"".join(bytes.fromhex(t["bytes"]) for t in own["tokens"])
    assert covered == text.encode("utf-8")  # in order, once: the line break is the marker "▁" before 寒
    assert own["tokens"][0]["text"] == "\u2581" and own["tokens"][0]["byte_length"] == 0
    # The archive, unzipped at home and read by plain transformers.
    archive = client.get(reverse("training:run_download", args=[run.code]))
    assert archive.status_code == 200
    folder = tmp_path / "home"
    zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).extractall(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ours = load_tokenizer(str(rinna_standin_dir))
    for sample in ("今日の一句　寒の月", "The CAT ☃"):
        assert tokenizer(sample, add_special_tokens=False)["input_ids"] == \
            ours(sample, add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    prompt = tokenizer("今日の一句", add_special_tokens=False, return_tensors="pt")
    output = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert output.shape[1] > prompt["input_ids"].shape[1]
