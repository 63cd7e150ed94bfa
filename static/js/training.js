// Training pages: small progressive enhancements (everything works without them).
document.addEventListener("DOMContentLoaded", () => {
  // LoRA only makes sense for pretrained bases: disable the box for the other choices.
  const base = document.getElementById("id_base");
  const lora = document.getElementById("id_lora");
  if (base && lora) {
    const sync = () => {
      const option = base.options[base.selectedIndex];
      const pretrained = option && option.dataset.kind === "pretrained";
      lora.disabled = !pretrained;
      if (!pretrained) lora.checked = false;
      const row = document.getElementById("row-lora");
      if (row) row.classList.toggle("muted", !pretrained);
    };
    base.addEventListener("change", sync);
    sync();
  }
});

// Confirmations for buttons inside fragments that htmx replaces (app.js binds only at load).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm-live]");
  if (button && !window.confirm(button.dataset.confirmLive)) event.preventDefault();
});
