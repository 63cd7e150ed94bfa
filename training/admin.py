"""Instructors' view of training: every run, datasets (publish samples), base models."""
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from training import services
from training.logtext import lines_text
from training.models import BaseModel, Calibration, Dataset, TrainingRun
from training.reasons import run_failure


class DeleteThroughServices:
    """Deleting here (one object, or the "delete selected" action) goes through the same service
    as the student's delete: files removed with the row, and refused (with the reason on the
    confirmation page, which then offers no delete) while a queued or running run needs it."""

    def delete_refusal(self, obj):
        raise NotImplementedError

    def delete_with_service(self, obj):
        raise NotImplementedError

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refusals = [(obj, refusal) for obj in objs if (refusal := self.delete_refusal(obj))]
        for obj, refusal in refusals:
            self.message_user(request, f"{obj}: {refusal.message}", messages.ERROR)
        return deleted, counts, perms_needed, list(protected) + [f"{obj}: {r.message}" for obj, r in refusals]

    def delete_model(self, request, obj):
        try:
            self.delete_with_service(obj)
        except services.RunRefused as exc:  # it changed since the confirmation page
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(TrainingRun)
class TrainingRunAdmin(DeleteThroughServices, admin.ModelAdmin):
    list_display = ("short_code_column", "owner", "status", "base_column", "dataset", "progress_column", "attempt",
                    "error_code", "is_demo", "created_at")
    list_filter = ("status", "base_model", ("owner", admin.RelatedOnlyFieldListFilter), "is_demo", "error_code")
    search_fields = ("code", "name", "owner__username", "owner__email", "dataset__name")
    list_select_related = ("owner", "dataset", "base_model", "base_run")
    raw_id_fields = ("owner", "dataset", "base_run")
    actions = ("cancel_runs", "requeue_runs", "use_as_demo")
    date_hierarchy = "created_at"
    readonly_fields = (
        "code_field", "status", "attempt", "published_attempt", "rq_job_id", "job_timeout", "enqueued_at", "claimed_at",
        "heartbeat_at", "worker_pid", "cancel_requested_at", "started_at", "finished_at", "step", "total_steps",
        "epoch", "train_loss", "val_loss", "learning_rate", "tokens_per_second", "eta_seconds", "overfitting",
        "checkpoint_step", "archive_size", "error_code", "failure_for_student", "error_detail_block", "log_block",
        "metrics", "hyperparameters", "is_demo")
    exclude = ("error_detail", "log_lines", "history", "samples", "active_slot")
    fieldsets = (
        (None, {"fields": ("code_field", "owner", "name", "dataset", "base_model", "base_run", "preset", "hyperparameters",
                           "is_demo")}),
        (_("State"), {"fields": ("status", "attempt", "published_attempt", "rq_job_id", "job_timeout", "enqueued_at",
                                 "claimed_at", "heartbeat_at", "worker_pid", "cancel_requested_at", "started_at",
                                 "finished_at")}),
        (_("Progress"), {"fields": ("step", "total_steps", "epoch", "train_loss", "val_loss", "learning_rate",
                                    "tokens_per_second", "eta_seconds", "overfitting", "checkpoint_step",
                                    "archive_size", "metrics")}),
        (_("Errors and log"), {"fields": ("error_code", "failure_for_student", "error_detail_block", "log_block")}),
    )

    def has_add_permission(self, request):
        return False  # runs are created by students through the site

    def delete_refusal(self, run):
        return services.training_run_delete_refusal(run)

    def delete_with_service(self, run):
        services.training_run_delete(run=run)

    # The model's `code` has no verbose name (and changing it needs a migration): label it here.
    @admin.display(description=_("code (in the run's URL)"))
    def code_field(self, run):
        return run.code

    @admin.display(description=_("base model"))
    def base_column(self, run):
        return run.base_label

    @admin.display(description=_("run"), ordering="code")
    def short_code_column(self, run):
        return run.display_name

    @admin.display(description=_("progress"))
    def progress_column(self, run):
        if not run.total_steps:
            return "—"
        return f"{run.step}/{run.total_steps}"

    @admin.display(description=_("what the student sees"))
    def failure_for_student(self, run):
        if run.status != TrainingRun.FAILED:
            return "—"
        title, advice = run_failure(run.error_code)
        return f"{title}: {advice}"

    @admin.display(description=_("technical detail"))
    def error_detail_block(self, run):
        return format_html('<pre style="white-space: pre-wrap; max-height: 28em; overflow: auto">{}</pre>',
                           run.error_detail or "—")

    @admin.display(description=_("log"))
    def log_block(self, run):
        return format_html('<pre style="white-space: pre-wrap; max-height: 20em; overflow: auto">{}</pre>',
                           "\n".join(lines_text(run.log_lines[-100:], instruction=run.is_instruction)) or "—")

    @admin.action(description=_("Cancel the selected runs"))
    def cancel_runs(self, request, queryset):
        count = sum(1 for run in queryset if services.training_run_cancel(run=run))
        self.message_user(request, ngettext("%(count)d run is being cancelled.", "%(count)d runs are being cancelled.",
                                            count) % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Queue the selected runs again (resume from their checkpoint)"))
    def requeue_runs(self, request, queryset):
        done = 0
        for run in queryset:
            try:
                services.training_run_requeue(run=run)
                done += 1
            except services.RunRefused as exc:
                self.message_user(request, f"{run.display_name}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, ngettext("%(count)d run queued again.", "%(count)d runs queued again.", done)
                              % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Use as the site's demo model"))
    def use_as_demo(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one run."), messages.ERROR)
            return
        run = queryset.first()
        try:
            services.training_run_set_demo(run=run)
        except services.RunRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("%(run)s is now the site's demo model.") % {"run": run.display_name},
                          messages.SUCCESS)


@admin.register(Dataset)
class DatasetAdmin(DeleteThroughServices, admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "is_sample", "published", "language", "size_bytes", "tokens_column",
                    "check_status", "error_code", "created_at")
    list_filter = ("kind", "check_status", "is_sample", "published", "language", "error_code")
    search_fields = ("name", "code", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("kind", "code_field", "upload_name", "size_bytes", "encoding", "preparation", "report",
                       "check_status", "check_phase", "error_code", "error_params_field", "check_detail")
    fields = ("name", "description", "language", "file", "kind", "upload_name", "owner", "is_sample", "published",
              "code_field", "size_bytes", "encoding", "preparation", "report", "check_status", "check_phase",
              "error_code", "error_params_field", "check_detail")
    actions = ("publish", "unpublish")

    def delete_refusal(self, dataset):
        return services.dataset_delete_refusal(dataset)

    def delete_with_service(self, dataset):
        services.dataset_delete(dataset=dataset)

    # `code` and `error_params` have no verbose names (changing them needs a migration): label them here.
    @admin.display(description=_("code (in the dataset's URL)"))
    def code_field(self, dataset):
        return dataset.code

    @admin.display(description=_("error details"))
    def error_params_field(self, dataset):
        return dataset.error_params or "-"

    @admin.display(description=_("tokens"))
    def tokens_column(self, dataset):
        return f"{dataset.tokens:,}" if dataset.report else "—"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "file" in form.base_fields:
            form.base_fields["file"].required = True  # blank on the model only while an upload waits for its check
        return form

    def save_model(self, request, obj, form, change):
        """Instructors upload shared samples here: stored under a generated name, then checked by
        a job on the `default` queue (the list shows "checking" until it is done)."""
        if obj.owner_id is None:
            obj.is_sample = True
        recheck = "file" in form.changed_data or not (obj.report or obj.is_checking)
        if recheck:
            obj.size_bytes = obj.file.size
            obj.upload_name = services.dataset_display_name(obj.file.name)
        super().save_model(request, obj, form, change)
        if recheck:
            services.dataset_check_queue(dataset=obj)
            self.message_user(request, _("The file is being checked in the background: reload the list in a "
                                         "moment to see the result."), messages.INFO)

    @admin.action(description=_("Publish as shared samples"))
    def publish(self, request, queryset):
        updated = queryset.filter(error_code="", check_status=Dataset.READY).update(is_sample=True, published=True)
        self.message_user(request, ngettext("%(count)d dataset published.", "%(count)d datasets published.", updated)
                          % {"count": updated}, messages.SUCCESS)

    @admin.action(description=_("Unpublish"))
    def unpublish(self, request, queryset):
        queryset.update(published=False)


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "kind", "source", "language", "size", "max_block_size", "enabled",
                    "present_column", "order")
    list_filter = ("kind", "enabled", "language")
    list_editable = ("enabled", "order")
    search_fields = ("name", "key", "source")

    @admin.display(description=_("present on this machine"), boolean=True)
    def present_column(self, base):
        try:
            return base.is_present
        except Exception:
            return False

    def get_readonly_fields(self, request, obj=None):
        return ("how_to_get",) if obj else ()

    def get_fields(self, request, obj=None):
        fields = ["name", "key", "kind", "source", "language", "size", "max_block_size", "description", "enabled",
                  "order"]
        return fields + (["how_to_get"] if obj else [])

    @admin.display(description=_("how to get it"))
    def how_to_get(self, base):
        if base.is_scratch:
            return _("Nothing to download: built from scratch for each run.")
        if base.is_local_dir:
            return _("A local directory: put config.json, model.safetensors and the tokenizer files there.")
        return format_html("<code>python manage.py download_base_model {}</code>", base.source)


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    """Measured training speeds; delete a row to have the worker measure that base again at its next start
    (or run `manage.py calibrate_training`)."""

    list_display = ("base_key", "block_size", "batch_size", "device", "tokens_per_second", "measurements", "source",
                    "updated_at")
    list_filter = ("device", "source")
    search_fields = ("base_key",)
    readonly_fields = ("measurements", "source", "updated_at")
