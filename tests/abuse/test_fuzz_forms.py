"""Property-based fuzzing (hypothesis.extra.django) of the two forms a student fills to
spend the site's CPU and disk: the dataset upload and the run form.

Properties: the site never answers 500 (nor does its dataset check, a job run here as the
`default` worker would); whatever it accepts is stored inside MEDIA_ROOT, byte for byte,
under a generated name; whatever it refuses leaves no file (a refusal by the check keeps the
row that says why); every run it creates has finite hyperparameters inside the service's bounds.
"""
import math
import os
import shutil
import tempfile

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase, from_form

from tests.abuse.conftest import make_dataset, make_scratch_base
from tests.factories import make_user, run_pending_checks

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
MEDIA = tempfile.mkdtemp(prefix="llmschool-fuzz-media-")

def _nameable(name: str) -> bool:
    """Django itself refuses to build an upload whose name has no base name ("a/", ".."):
    such a name cannot reach the site as a file, so it is not generated."""
    return bool(name.strip("\x00")) and os.path.basename(name) not in ("", ".", "..")


file_names = st.one_of(
    st.text(min_size=1, max_size=80).filter(_nameable),
    st.sampled_from(["../../x.txt", "..\\..\\x.txt", "/etc/passwd", "a.jsonl", "b.csv", "c.md", "CON", ".txt"]),
)
file_bodies = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=3000).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(min_size=1, max_size=60).map(lambda t: (t + "\n").encode("utf-8", "surrogatepass") * 150),
    st.sampled_from([b'{"text": "hello world"}\n' * 200, b"text\n" + b'"a,b",c\n' * 200, b"\xef\xbb\xbf" + b"ok " * 900]),
)
uploads = st.builds(lambda name, body: SimpleUploadedFile(name, body), file_names, file_bodies)

number_like = st.one_of(
    st.just(""), st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "-0", "0", "１２", "0x10", "1_000", " 3 "]),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12),
)


def files_under(root):
    return [os.path.join(d, f) for d, _dirs, fs in os.walk(root) for f in fs]


@override_settings(MEDIA_ROOT=MEDIA, DATASET_MAX_BYTES=2500)
class UploadFormFuzz(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("fuzzer")

    def setUp(self):
        shutil.rmtree(MEDIA, ignore_errors=True)
        os.makedirs(MEDIA)

    @FUZZ
    @given(data=st.data())
    def test_accepted_uploads_are_kept_intact_and_refused_ones_leave_nothing(self, data):
        from training.forms import DatasetUploadForm
        from training.models import Dataset
        from training.services import DatasetRejected, dataset_create

        for path in files_under(MEDIA):
            os.unlink(path)
        form = data.draw(from_form(DatasetUploadForm, file=uploads))
        if not form.is_valid():
            return
        upload = form.cleaned_data["file"]
        upload.seek(0)
        body = upload.read()
        upload.seek(0)
        try:
            dataset = dataset_create(owner=self.user, uploaded_file=upload, name=form.cleaned_data["name"])
        except DatasetRejected as refused:
            assert refused.code and refused.message
            assert files_under(MEDIA) == []
            assert not Dataset.objects.filter(owner=self.user).exists()
            return
        run_pending_checks()
        dataset.refresh_from_db()
        if dataset.check_status == Dataset.FAILED:
            assert dataset.error_code and not dataset.is_usable
            assert files_under(MEDIA) == []
            dataset.delete()
            return
        stored = os.path.realpath(dataset.file.path)
        assert stored.startswith(os.path.realpath(MEDIA) + os.sep + "datasets" + os.sep)
        assert files_under(MEDIA) == [dataset.file.path]
        with open(stored, "rb") as f:
            assert f.read() == body
        assert dataset.report.get("tokens", 0) > 0 and not dataset.error_code
        assert "/" not in dataset.name and "\x00" not in dataset.name and len(dataset.name) <= 120
        dataset.file.delete(save=False)

    @FUZZ
    @given(name=file_names, body=file_bodies)
    def test_the_upload_page_never_fails(self, name, body):
        client = Client()
        client.force_login(self.user)
        response = client.post("/training/datasets/", {"file": SimpleUploadedFile(name or "x", body), "name": name})
        assert response.status_code in (302, 400)
        run_pending_checks()
        if response.status_code == 302:
            assert client.get(response.url).status_code == 200


@override_settings(MEDIA_ROOT=MEDIA)
class RunFormFuzz(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("runner")
        cls.base = make_scratch_base()
        cls.dataset = make_dataset(cls.user, name="fuzz corpus")

    def assert_bounded(self, run):
        from training.services import BOUNDS

        for key, value in run.hyperparameters.items():
            if key in BOUNDS:
                low, high = BOUNDS[key]
                assert isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high, (key, value)

    @FUZZ
    @given(data=st.data())
    def test_valid_forms_give_bounded_runs_or_a_clear_refusal(self, data):
        from training.forms import RunForm
        from training.models import TrainingRun
        from training.services import RunRefused, training_run_create

        form = data.draw(from_form(RunForm, form_kwargs={"user": self.user}))
        if not form.is_valid():
            assert form.errors
            return
        base_model, base_run = form.base_model_and_run()
        try:
            run = training_run_create(owner=self.user, dataset=form.cleaned_data["dataset"], base_model=base_model,
                                      base_run=base_run, preset=form.cleaned_data["preset"], options=form.options(),
                                      name=form.cleaned_data["name"])
        except (ValidationError, RunRefused) as refused:
            assert getattr(refused, "messages", None) or getattr(refused, "message", None)
            assert not TrainingRun.objects.filter(owner=self.user).exists()
            return
        self.assert_bounded(run)
        assert run.job_timeout > 0 and run.status == TrainingRun.QUEUED

    @FUZZ
    @given(fields=st.fixed_dictionaries({}, optional={
        "epochs": number_like, "learning_rate": number_like, "batch_size": number_like, "block_size": number_like,
        "max_steps": number_like, "lora": st.sampled_from(["on", "", "true", "0"]), "name": st.text(max_size=200),
        "preset": st.sampled_from(["quick", "standard", "", "turbo"]),
    }))
    def test_hostile_posts_never_fail_and_never_leave_unbounded_runs(self, fields):
        from training.models import TrainingRun

        client = Client()
        client.force_login(self.user)
        post = {"dataset": str(self.dataset.code), "base": "base:scratch-tiny", "preset": "quick", **fields}
        response = client.post("/training/runs/new/", post)
        assert response.status_code in (302, 400)
        for run in TrainingRun.objects.filter(owner=self.user):
            self.assert_bounded(run)
        TrainingRun.objects.filter(owner=self.user).delete()
