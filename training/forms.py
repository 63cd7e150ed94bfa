"""Forms for uploads, new runs and the playground. Bounds mirror services.BOUNDS; the
service checks them again (a form is only the first line)."""
from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from training import conf
from training.models import BaseModel, Dataset, TrainingRun
from training.services import (
    BOUNDS,
    MAX_CHAT_MESSAGE_CHARS,
    MAX_CHAT_MESSAGES,
    MAX_EXTRA_PROMPTS,
    MAX_PROMPT_CHARS,
    dataset_unusable_label,
    dataset_unusable_message,
    datasets_for_user,
)


class DatasetUploadForm(forms.Form):
    file = forms.FileField(label=_("Text file"), help_text=_(
        "Plain text (.txt) in UTF-8, Shift_JIS, EUC-JP or UTF-16, a .zip holding one text file (as Aozora Bunko "
        "distributes its works), or .jsonl / .csv with a \"text\" field. The more text, the better the model."))
    name = forms.CharField(label=_("Name"), max_length=100, required=False,
                           help_text=_("Optional; the file name is used otherwise."))
    keep_notation = forms.BooleanField(label=_("Keep Aozora Bunko notation"), required=False, help_text=_(
        "Ruby 《》, editor notes ［＃…］ and the Aozora Bunko header and footer are removed unless you tick this: "
        "a model would learn the markup as if it were the text."))
    kind = forms.ChoiceField(label=_("Kind of data"), required=False, initial="", choices=[
        ("", _("Detect from the file")), ("text", _("Text to continue")),
        ("instruction", _("Conversations to answer (instructions)"))], help_text=_(
        "Conversations are a .jsonl file, one per line: {\"messages\": [{\"role\": \"user\", \"content\": …}, "
        "{\"role\": \"assistant\", \"content\": …}]} (roles system, user, assistant), or "
        "{\"instruction\": …, \"input\": …, \"output\": …}. Such a file is detected by itself."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = conf.dataset_max_bytes()
        if upload.size > limit:
            from django.template.defaultfilters import filesizeformat

            raise forms.ValidationError(_("The file is too large: the limit is %(limit)s.")
                                        % {"limit": filesizeformat(limit)})
        return upload


class BaseSelect(forms.Select):
    """A select whose options for missing base models are shown but disabled."""

    def __init__(self, *args, disabled_values=(), kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled_values = set(disabled_values)
        self.kinds = kinds or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if str(value) in self.disabled_values:
            option["attrs"]["disabled"] = True
        if str(value) in self.kinds:
            option["attrs"]["data-kind"] = self.kinds[str(value)]
        return option


def _number(label, key, *, integer=False, step=None, help_text=""):
    low, high = BOUNDS[key]
    field_class = forms.IntegerField if integer else forms.FloatField
    widget_attrs = {"step": step or ("1" if integer else "any"), "inputmode": "numeric" if integer else "decimal"}
    return field_class(label=label, required=False, min_value=low, max_value=high, help_text=help_text,
                       widget=forms.NumberInput(attrs=widget_attrs))


class RunForm(forms.Form):
    # Time budgets (training.engine.presets.HYPER_PRESETS): the steps follow from the measured speed.
    PRESET_CHOICES = [("quick", _("Quick (about 1 minute)")), ("standard", _("Standard (about 5 minutes)")),
                      ("long", _("Long (about 20 minutes)"))]

    dataset = forms.ChoiceField(label=_("Dataset"))
    base = forms.ChoiceField(label=_("Base model"))
    preset = forms.ChoiceField(label=_("Preset"), choices=PRESET_CHOICES, initial="quick",
                               widget=forms.RadioSelect)
    name = forms.CharField(label=_("Run name"), max_length=120, required=False,
                           help_text=_("Optional, to recognise the run later."))
    epochs = _number(_("Epochs"), "epochs", step="0.1", help_text=_(
        "Empty: the preset's time budget decides. Set: the model reads the whole dataset this many times "
        "instead (Maximum steps, if set, wins)."))
    learning_rate = _number(_("Learning rate"), "learning_rate", help_text=_(
        "Empty: a good default for the base model. Too high makes the loss jump around."))
    batch_size = _number(_("Batch size"), "batch_size", integer=True)
    block_size = _number(_("Block size (tokens)"), "block_size", integer=True, help_text=_(
        "How many tokens the model sees at once; at most the model's maximum."))
    max_steps = _number(_("Maximum steps"), "max_steps", integer=True, help_text=_(
        "Empty: the preset's time budget decides. Set: the run trains at most this many steps, whatever the "
        "preset or the epochs say; it still stops sooner when the validation loss stops improving."))
    lora = forms.BooleanField(label=_("Use LoRA (pretrained bases only)"), required=False, help_text=_(
        "Trains small adapter matrices instead of every weight: less memory, faster."))
    sample_prompts = forms.CharField(
        label=_("Your own sample prompts"), required=False,
        max_length=MAX_EXTRA_PROMPTS * (MAX_PROMPT_CHARS + 2),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional, one per line (at most 3, up to 100 characters each). The model also continues "
                    "the beginnings of a few lines of your text that it never trained on."))
    # An instruction dataset's runs ask the prompts as questions (training/engine/trainer.py, sample_prompts).
    SAMPLE_PROMPTS_HELP_INSTRUCTION = _(
        "Optional, one per line (at most 3, up to 100 characters each). Each is asked as a question; the model "
        "also answers a few questions of your conversations that it never trained on.")

    MAX_STEPS_HELP_INSTRUCTION = _(
        "Empty: the preset's time budget decides. Set: the run trains at most this many steps, whatever the "
        "preset or the epochs say; it still stops sooner when the loss on held-out answers stops improving.")
    # The fields whose help depends on the dataset's kind: the estimate fragment swaps them (htmx).
    TASK_WORDED_FIELDS = ("sample_prompts", "max_steps")

    ADVANCED = ("epochs", "learning_rate", "batch_size", "block_size", "max_steps", "lora", "sample_prompts")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.datasets = {str(d.code): d for d in datasets_for_user(user).select_related("owner")}
        # The student's datasets still being checked or refused: listed, but not selectable.
        self.unusable = {str(d.code): d for d in Dataset.objects.filter(owner=user).exclude(
            code__in=list(self.datasets))} if getattr(user, "is_authenticated", False) else {}
        own = [(code, d.name) for code, d in self.datasets.items() if not d.is_sample]
        own += [(code, dataset_unusable_label(d)) for code, d in self.unusable.items()]
        samples = [(code, d.name) for code, d in self.datasets.items() if d.is_sample]
        choices = []
        if own:
            choices.append((_("Your datasets"), own))
        if samples:
            choices.append((_("Shared samples"), samples))
        self.fields["dataset"].choices = choices
        self.fields["dataset"].widget = BaseSelect(choices=choices, disabled_values=list(self.unusable))

        self.bases, self.missing_bases, kinds = {}, [], {}
        base_choices, missing_values = [], []
        for base in BaseModel.objects.filter(enabled=True):
            value = f"base:{base.key}"
            label = f"{base.display_name} · {base.size}" if base.size else base.display_name
            if base.is_present:
                self.bases[value] = base
            else:
                self.missing_bases.append(base)
                missing_values.append(value)
                label = _("%(name)s (not downloaded)") % {"name": label}
            kinds[value] = base.kind
            base_choices.append((value, label))
        run_choices = []
        for run in TrainingRun.objects.filter(owner=user, status=TrainingRun.SUCCEEDED).select_related(
                "base_model", "dataset")[:30]:
            value = f"run:{run.code}"
            self.bases[value] = run
            kinds[value] = "run"
            run_choices.append((value, _("My run %(name)s") % {"name": run.display_name}))
        grouped = [(_("Base models"), base_choices)]
        if run_choices:
            grouped.append((_("Continue from my runs"), run_choices))
        self.fields["base"].choices = grouped
        self.fields["base"].widget = BaseSelect(choices=grouped, disabled_values=missing_values, kinds=kinds)

    def use_task_wording(self, instruction: bool) -> None:
        """Say the help of the fields the way the chosen dataset's runs work (a text or conversations)."""
        if instruction:
            self.fields["sample_prompts"].help_text = self.SAMPLE_PROMPTS_HELP_INSTRUCTION
            self.fields["max_steps"].help_text = self.MAX_STEPS_HELP_INSTRUCTION

    def task_worded_help(self) -> list[tuple[str, str]]:
        """(help element id, text) of the fields use_task_wording words, as templates/includes/form.html ids them."""
        return [(f"{self[name].id_for_label}_helptext", self.fields[name].help_text) for name in self.TASK_WORDED_FIELDS]

    def clean_base(self):
        value = self.cleaned_data["base"]
        if value not in self.bases:
            raise forms.ValidationError(_("This base model cannot be chosen."))
        return self.bases[value]

    def clean_dataset(self):
        code = self.cleaned_data["dataset"]
        if code in self.unusable:
            raise forms.ValidationError(dataset_unusable_message(self.unusable[code]))
        return self.datasets[code]

    def base_model_and_run(self):
        base = self.cleaned_data["base"]
        return (None, base) if isinstance(base, TrainingRun) else (base, None)

    def options(self) -> dict:
        return {key: self.cleaned_data.get(key) for key in self.ADVANCED
                if self.cleaned_data.get(key) not in (None, "", False)}


class PlaygroundForm(forms.Form):
    prompt = forms.CharField(label=_("Prompt"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
    temperature = forms.FloatField(label=_("Temperature"), min_value=0.05, max_value=2.0, initial=0.8,
                                   widget=forms.NumberInput(attrs={"step": "0.05"}))
    top_k = forms.IntegerField(label=_("Top-k"), min_value=0, max_value=500, initial=50, help_text=_("0 = off"))
    top_p = forms.FloatField(label=_("Top-p"), min_value=0.05, max_value=1.0, initial=0.95,
                             widget=forms.NumberInput(attrs={"step": "0.05"}))
    max_new_tokens = forms.IntegerField(label=_("Max new tokens"), min_value=1, initial=120)
    seed = forms.IntegerField(label=_("Seed"), required=False, min_value=0, max_value=2**31 - 1, help_text=_(
        "Empty: a new random seed each time. The same seed and settings give the same text."))

    def __init__(self, *args, context_tokens: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit = playground_token_limit(context_tokens)
        field = self.fields["max_new_tokens"]
        field.max_value = self.limit
        field.validators.append(MaxValueValidator(self.limit))
        field.widget.attrs["max"] = self.limit
        field.initial = min(field.initial, self.limit)
        field.help_text = _("At most %(limit)s.") % {"limit": self.limit}


def playground_token_limit(context_tokens: int | None = None) -> int:
    """The one limit the playground shows and the engine honours: the site's setting, the
    engine's cap, and room in the model's context for at least one prompt token."""
    from training.engine import MAX_NEW_TOKENS

    limit = min(conf.playground_max_new_tokens(), MAX_NEW_TOKENS)
    if context_tokens:
        limit = min(limit, int(context_tokens) - 1)
    return max(1, limit)


class ChatForm(PlaygroundForm):
    """The playground of an instruction run: a conversation. Its history travels in the page
    (a hidden field, re-checked on every post: roles, lengths, at most MAX_CHAT_MESSAGES)."""

    message = forms.CharField(label=_("Your message"), max_length=MAX_CHAT_MESSAGE_CHARS,
                              widget=forms.Textarea(attrs={"rows": 2}))
    system = forms.CharField(label=_("System message"), max_length=500, required=False, help_text=_(
        "Optional: how the assistant should behave. It is sent first in every turn."))
    history = forms.CharField(required=False, widget=forms.HiddenInput)

    field_order = ["message", "system"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["prompt"]

    def clean_history(self):
        import json

        raw = self.cleaned_data.get("history") or ""
        if not raw:
            return []
        try:
            messages = json.loads(raw)
        except ValueError:
            messages = None
        valid = isinstance(messages, list) and len(raw) <= 4 * MAX_CHAT_MESSAGES * MAX_CHAT_MESSAGE_CHARS and all(
            isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
            and len(m["content"]) <= MAX_CHAT_MESSAGE_CHARS for m in messages)
        if not valid:
            raise forms.ValidationError(_("The conversation could not be read. Start a new one."))
        return [{"role": m["role"], "content": m["content"]} for m in messages][-MAX_CHAT_MESSAGES:]


class CompareForm(forms.Form):
    a = forms.UUIDField()
    b = forms.UUIDField()
