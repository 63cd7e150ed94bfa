"""What static/js/lab.js needs from the server besides the JSON APIs: the API URLs, the
request caps and every UI string, translated into the page's language."""
from django.urls import reverse
from django.utils.translation import gettext as _

from training.lab import services as lab


def new_run_url() -> str:
    """Where the lab sends a student without a model: a new run with the quick preset."""
    return reverse("training:run_new") + "?preset=quick"


def lab_strings() -> dict:
    """URLs and translated UI strings for static/js/lab.js, rendered as a json_script blob
    (templates/lab/strings.html, rendered by the {% lab_strings %} tag of lab_tags on the lab
    page, lesson pages and the lesson preview)."""
    return {
        "urls": {
            "models": reverse("lab:api_models"), "tokenize": reverse("lab:api_tokenize"),
            "next_token": reverse("lab:api_next_token"), "attention": reverse("lab:api_attention"),
            "my_run_loss": reverse("lab:api_my_run_loss"), "lab": reverse("lab:index"),
            "chat_template": reverse("lab:api_chat_template"),
            "login": reverse("login"), "new_run": new_run_url(),
        },
        "limits": {"tokenize": lab.MAX_TOKENIZE_CHARS, "prompt": lab.MAX_PROMPT_CHARS,
                   "attention": lab.MAX_ATTENTION_CHARS, "picks": lab.MAX_PICKED_TOKENS,
                   "chat_message": lab.MAX_CHAT_MESSAGE_CHARS},
        "text": _widget_texts(),
    }


def _widget_texts() -> dict:
    return {
        # shared
        "lab": _("Lab"),
        "model": _("Model"),
        "demo": _("site demo"),
        "yours": _("your model"),
        "error": _("The lab could not answer. Try again."),
        "login_required": _("Log in to try this explorer with a real model."),
        "log_in": _("Log in"),
        "no_model": _("You have no model yet. Train one in a few minutes (quick preset), then come back."),
        "demo_training": _("The site's demo model is still training: it is ready in about {minutes} min (reload "
                           "this page then). Or train your own in a few minutes:"),
        "train_quick": _("Train a quick model"),
        "open_lab": _("Open in the Lab"),
        # tokenizer
        "tok_title": _("Tokenizer explorer"),
        "tok_input": _("Text to split into tokens"),
        "tok_summary": _("{chars} characters · {bytes} bytes in UTF-8 · {bpc} bytes per character"),
        "tok_gpt2": _("GPT-2 tokenizer"),
        "tok_run": _("This model's tokenizer: {name}"),
        "tok_vocab": _("vocabulary of {vocab} tokens"),
        "tok_count": _("{count} tokens"),
        "tok_ratio": _("{tpc} tokens per character · {cpt} characters per token"),
        "tok_partial": _("{partial} tokens hold only part of a character"),
        "tok_same": _("This model was fine-tuned from GPT-2, so it splits text exactly like GPT-2."),
        "tok_token_title": _("token id {id} · {len} bytes: {bytes}"),
        "tok_partial_title": _("part of a character"),
        "tok_no_run": _("Pick or train a model to compare its own tokenizer with GPT-2's."),
        "why_title": _("Why does Japanese cost more tokens?"),
        "why_bytes": _("A byte-level tokenizer works on UTF-8 bytes. A letter of English is 1 byte; a kana "
                       "or kanji is 3 bytes. This text uses {bpc} bytes per character."),
        "why_gpt2": _("GPT-2 learned its merges mostly from English web pages, so it has few tokens for "
                      "Japanese byte sequences: here it needs {tpc} tokens per character, and {partial} of its "
                      "{count} tokens are fragments of a character."),
        "why_run": _("A tokenizer trained on the model's own corpus learns merges for the characters it saw "
                     "often: for the same text, {name} needs {tpc} tokens per character."),
        "why_cost": _("More tokens mean a shorter context for the same text and more computation per "
                      "sentence: the model reads, and pays for, tokens, not characters."),
        # next token
        "nt_title": _("Next-token explorer"),
        "nt_prompt": _("Prompt"),
        "nt_temperature": _("Temperature"),
        "nt_top_k": _("Top-k (0 = off)"),
        "nt_top_p": _("Top-p (1 = off)"),
        "nt_text": _("Text so far"),
        "nt_candidates": _("The most likely next tokens"),
        "nt_pick": _("Pick"),
        "nt_pick_label": _("Pick “{token}”"),
        "nt_sample": _("Let chance decide"),
        "nt_undo": _("Undo"),
        "nt_reset": _("Start again"),
        "nt_raw": _("before settings: {p}"),
        "nt_kept": _("{kept} of {vocab} tokens remain possible after top-k and top-p"),
        "nt_greedy": _("Temperature 0: the most likely token always wins (greedy decoding)."),
        "nt_truncated": _("The text is longer than the model's context: only the last {n} tokens are read."),
        "nt_too_many": _("You have picked the maximum number of tokens. Start again to continue."),
        "nt_help": _("Bars show the probability of each candidate after temperature, top-k and top-p; the "
                     "grey figure is the model's own probability. Pick a token to append it and step on."),
        # attention
        "att_title": _("Attention view"),
        "att_input": _("Short text"),
        "att_layer": _("Layer"),
        "att_head": _("Head"),
        "att_heads": _("All heads of this layer"),
        "att_rows": _("Each row is a token; the colour shows how much it attends to itself and to each earlier token."),
        "att_mask": _("masked: a token cannot look at tokens after it (causal mask)"),
        "att_scale": _("attention weight"),
        "att_cell": _("“{from}” → “{to}”: {w}"),
        "att_truncated": _("Only the first {n} tokens are shown."),
        # chat template
        "chat_title": _("Chat template and loss mask"),
        "chat_preset": _("Example"),
        "chat_preset_custom": _("Your own"),
        "chat_preset_qa": _("A question and its answer"),
        "chat_preset_system": _("With a system message"),
        "chat_qa_user": _("What is a token?"),
        "chat_qa_assistant": _("A small piece of text that the model reads."),
        "chat_system_system": _("You are a kind tutor. Answer in one sentence."),
        "chat_system_user": _("Why is the loss masked?"),
        "chat_system_assistant": _("So that the model learns to answer, not to ask."),
        "chat_system": _("System message (optional)"),
        "chat_user": _("User's message"),
        "chat_assistant": _("Assistant's answer"),
        "chat_rendered": _("The conversation written with the chat template"),
        "chat_count": _("{count} tokens, {counted} count toward the loss"),
        "chat_legend_counts": _("counts toward the loss: the answer and its <|end|>"),
        "chat_legend_masked": _("masked (label -100): not learned"),
        "chat_legend_special": _("special token: one id, never split"),
        "chat_token_title": _("token id {id} · label {label}"),
        "chat_help": _("Training computes the loss only on the highlighted tokens: the model learns to write the "
                       "answer and to stop with <|end|>, not to predict the template or the user's message."),
        "chat_tokenizer": _("GPT-2 tokenizer with the chat tokens added (vocabulary of {vocab} tokens)"),
        "chat_tok_choice": _("Tokenizer"),
        "chat_tok_gpt2": _("GPT-2 (with the chat tokens)"),
        "chat_tokenizer_run": _("The tokenizer of {name} with the chat tokens (vocabulary of {vocab} tokens)."),
        "chat_tokens_added": _("It had no chat tokens: they were added with the next ids, as an instruction run "
                               "starting from this model would add them."),
        "chat_tokens_own": _("It already has the chat tokens: this model was trained with them."),
        # my run's loss
        "loss_title": _("Your run's loss curve"),
        "loss_run": _("Run: {name} ({status})"),
        "loss_demo": _("You have no run with a loss curve yet, so this is the site demo model's curve."),
        "loss_train": _("training loss"),
        "loss_val": _("validation loss"),
        "loss_lr": _("Learning rate"),
        "loss_bpc": _("Bits per character on held-out text: {first} at the first evaluation, {last} at the latest."),
        "loss_step": _("step"),
        "loss_best": _("lowest validation loss"),
        # an instruction run's held-out loss is measured on answers only
        "loss_val_answers": _("held-out loss on answers"),
        "loss_best_answers": _("lowest held-out loss on answers"),
        "loss_none": _("No loss curve yet: train a model and its curve appears here."),
    }
