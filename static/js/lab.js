// Lab widgets: hydrates every <div class="lab-embed" data-lab="..."> placeholder, in lessons
// and on the /lab/ page. No framework and no inline code (the CSP allows only this file):
// translated strings and API URLs come from the page's json_script blob #lab-strings.
(function () {
  "use strict";

  const blob = document.getElementById("lab-strings");
  if (!blob) return;
  const CONFIG = JSON.parse(blob.textContent || "{}");
  if (!CONFIG.urls) return;
  const T = CONFIG.text || {};
  const URLS = CONFIG.urls;
  const LIMITS = CONFIG.limits || {};
  const LANG = document.documentElement.lang || "ja";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TOKEN_COLOURS = 8;

  // -- small helpers -------------------------------------------------------------------

  function t(key, params) {
    let text = T[key] || key;
    Object.entries(params || {}).forEach(([name, value]) => { text = text.split("{" + name + "}").join(String(value)); });
    return text;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    children.flat().forEach((child) => {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, String(value)));
    children.forEach((child) => node.append(child instanceof Node ? child : document.createTextNode(String(child))));
    return node;
  }

  function number(value, digits) {
    return Number(value).toLocaleString(LANG, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function percent(probability) {
    const value = probability * 100;
    return (value >= 10 ? number(value, 1) : number(value, 2)) + "%";
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  // Spaces and line breaks would be invisible inside a token box.
  function visible(text) {
    return text === "" ? "∅" : text.replace(/[ \u3000]/g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
  }

  // A token holding part of a character shows that character when known, else its bytes.
  function tokenLabel(token) {
    if (token.partial) return token.text ? token.text : "‹" + token.bytes + "›";
    return visible(token.text);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(url, params, signal, method) {
    const query = new URLSearchParams();
    Object.entries(params || {}).forEach(([name, value]) => {
      if (value !== null && value !== undefined && value !== "") query.set(name, value);
    });
    const post = method === "POST";
    let response;
    try {
      // Text goes in a POST body: a long Japanese text would pass the web server's limit on a URL.
      response = await fetch(post ? url : url + (query.toString() ? "?" + query : ""), {
        method: post ? "POST" : "GET", credentials: "same-origin", signal, body: post ? query : undefined,
        headers: post ? { Accept: "application/json", "X-CSRFToken": csrfToken() } : { Accept: "application/json" },
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "network", T.error);
    }
    let body = null;
    try { body = await response.json(); } catch (error) { body = null; }
    if (!response.ok || !body) {
      const detail = (body && body.error) || {};
      throw new ApiError(response.status, detail.code || "error", detail.message || T.error);
    }
    return body;
  }

  // Every page has the language switch, a form with Django's CSRF token.
  function csrfToken() {
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function sleep(ms) {
    return new Promise((resolve) => { setTimeout(resolve, ms); });
  }

  // The site runs one model request per student at a time (a second one is refused: 429
  // "in_flight"), so the model requests of the whole page go one after another. Each widget
  // keeps only its latest request waiting (an older waiting one is dropped), so answers never
  // arrive out of order while the student types or drags a slider. A request refused because
  // another tab's is still running is tried again a few times.
  const queue = [];
  let sending = false;

  function abortError() {
    const error = new Error("superseded");
    error.name = "AbortError";
    return error;
  }

  async function send(url, params) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api(url, params, undefined, "POST");
      } catch (error) {
        if (!(error.status === 429 && error.code === "in_flight" && attempt < 5)) throw error;
        await sleep(1000);
      }
    }
  }

  async function pump() {
    if (sending || !queue.length) return;
    sending = true;
    const next = queue.shift();
    next.owner.waiting = null;
    try {
      next.resolve(await send(next.url, next.params));
    } catch (error) {
      next.reject(error);
    } finally {
      sending = false;
      pump();
    }
  }

  function latestOnly() {
    const owner = { waiting: null };
    return (url, params) => new Promise((resolve, reject) => {
      if (owner.waiting) {
        queue.splice(queue.indexOf(owner.waiting), 1);
        owner.waiting.reject(abortError());
      }
      owner.waiting = { owner, url, params, resolve, reject };
      queue.push(owner.waiting);
      pump();
    });
  }

  let modelsRequest = null;
  function loadModels() {
    // A visitor's page says so: show "log in" without a request the API would refuse (401).
    if (document.getElementById("lab-visitor")) return Promise.reject(new ApiError(401, "login_required", T.login_required));
    if (!modelsRequest) {
      modelsRequest = api(URLS.models).catch((error) => { modelsRequest = null; throw error; });
    }
    return modelsRequest;
  }

  function modelName(model) {
    return model.name + " · " + (model.is_demo ? T.demo : T.yours);
  }

  // The /lab/ page has one model picker for every explorer; in a lesson each explorer
  // gets its own small picker (the student's latest model comes first).
  async function modelPicker(bar, onChange) {
    const data = await loadModels();
    const pageSelect = document.querySelector("[data-lab-model-select]");
    if (pageSelect) {
      pageSelect.addEventListener("change", onChange);
      return { data, code: () => pageSelect.value || null };
    }
    if (!data.models.length) return { data, code: () => null };
    const select = el("select", { class: "lab-select" });
    data.models.forEach((model) => select.append(el("option", { value: model.code }, modelName(model))));
    select.value = data.default;
    select.addEventListener("change", onChange);
    bar.append(el("label", { class: "lab-model-inline" }, el("span", {}, T.model), select));
    return { data, code: () => select.value || null };
  }

  function loginMessage() {
    const next = encodeURIComponent(window.location.pathname + window.location.hash);
    return el("p", { class: "lab-notice" }, T.login_required + " ",
      el("a", { class: "btn btn-small btn-primary", href: URLS.login + "?next=" + next }, T.log_in));
  }

  // No model to explore: the site's demo model may still be training (seed_demo_model).
  function noModelMessage(data) {
    const pending = data && data.demo_training;
    const text = pending ? T.demo_training.replace("{minutes}", pending.minutes) : T.no_model;
    return el("p", { class: "lab-notice", "data-demo-training": pending ? "true" : null }, text + " ",
      el("a", { class: "btn btn-small btn-primary", href: URLS.new_run }, T.train_quick));
  }

  function showError(target, error) {
    if (error && error.name === "AbortError") return;
    target.replaceChildren(error && error.status === 401 ? loginMessage()
      : el("p", { class: "lab-error", role: "alert" }, (error && error.message) || T.error));
  }

  function busy(root, on) {
    root.classList.toggle("lab-busy", on);
    root.setAttribute("aria-busy", on ? "true" : "false");
  }

  // -- tokenizer explorer --------------------------------------------------------------

  function tokenChip(token, index) {
    const title = t("tok_token_title", { id: token.id, len: token.byte_length, bytes: token.bytes })
      + (token.partial ? " · " + T.tok_partial_title : "");
    return el("span", { class: "lab-token c" + (index % TOKEN_COLOURS) + (token.partial ? " partial" : ""), title },
      el("span", { class: "lab-token-text" }, visible(token.text)),
      el("span", { class: "lab-token-meta" }, String(token.id)),
      el("span", { class: "lab-token-meta" }, token.partial ? token.bytes : token.byte_length + "B"));
  }

  function tokenizerColumn(side, heading) {
    const column = el("div", { class: "lab-tok-column" },
      el("p", { class: "lab-tok-title" }, heading),
      el("p", { class: "muted lab-small" }, t("tok_vocab", { vocab: number(side.vocab_size, 0) })),
      el("p", { class: "lab-tok-count" }, el("strong", {}, t("tok_count", { count: number(side.count, 0) }))),
      el("p", { class: "muted lab-small" }, t("tok_ratio", { tpc: number(side.tokens_per_char), cpt: number(side.chars_per_token) })));
    if (side.partial_tokens) column.append(el("p", { class: "muted lab-small" }, t("tok_partial", { partial: side.partial_tokens })));
    if (side.same_as_gpt2) column.append(el("p", { class: "lab-small" }, T.tok_same));
    column.append(el("div", { class: "lab-tokens" }, side.tokens.map(tokenChip)));
    return column;
  }

  function whyJapanese(data) {
    const [gpt2, own] = data.tokenizers;
    const body = [
      el("p", {}, t("why_bytes", { bpc: number(data.bytes_per_char) })),
      el("p", {}, t("why_gpt2", { tpc: number(gpt2.tokens_per_char), partial: gpt2.partial_tokens, count: gpt2.count })),
    ];
    if (own && !own.same_as_gpt2) body.push(el("p", {}, t("why_run", { name: own.name, tpc: number(own.tokens_per_char) })));
    body.push(el("p", {}, T.why_cost));
    return body;
  }

  function tokenizerWidget(root) {
    const bar = el("div", { class: "lab-bar" });
    const input = el("textarea", { class: "input lab-input", rows: 2, maxlength: LIMITS.tokenize, "aria-label": T.tok_input });
    input.value = root.dataset.text || "";
    const summary = el("p", { class: "lab-summary", "aria-live": "polite" });
    const columns = el("div", { class: "lab-tok-columns" });
    const why = el("details", { class: "lab-why", open: root.classList.contains("lab-full") },
      el("summary", {}, T.why_title));
    const whyBody = el("div", {});
    why.append(whyBody);
    const status = el("div", { class: "lab-status" });
    root.append(bar, input, status, summary, columns, why);
    const request = latestOnly();
    let picker = null;

    async function refresh() {
      busy(root, true);
      try {
        const data = await request(URLS.tokenize, { text: input.value, model: picker && picker.code() });
        status.replaceChildren();
        summary.textContent = t("tok_summary", { chars: number(data.chars, 0), bytes: number(data.bytes, 0), bpc: number(data.bytes_per_char) });
        const [gpt2, own] = data.tokenizers;
        columns.replaceChildren(tokenizerColumn(gpt2, T.tok_gpt2),
          own ? tokenizerColumn(own, t("tok_run", { name: own.name })) : el("div", { class: "lab-tok-column lab-tok-empty" },
            el("p", { class: "muted" }, T.tok_no_run), el("a", { class: "btn btn-small", href: URLS.new_run }, T.train_quick)));
        whyBody.replaceChildren(...whyJapanese(data));
      } catch (error) {
        showError(status, error);
      } finally {
        busy(root, false);
      }
    }

    const later = debounce(refresh, 250);
    input.addEventListener("input", later);
    loadModelsThen(root, bar, refresh, () => { picker = null; refresh(); }, (found) => { picker = found; refresh(); }, true);
  }

  // Finds the model picker, then starts the widget; shows the login or "no model yet"
  // message when there is nothing to explore. `optional`: the widget works without a model.
  function loadModelsThen(root, bar, onModelChange, withoutModel, withModel, optional) {
    modelPicker(bar, onModelChange).then((picker) => {
      if (picker.code()) withModel(picker);
      else if (optional) withoutModel();
      else root.append(noModelMessage(picker.data));
    }).catch((error) => {
      // Keep the widget's title; replace its controls with the reason (log in, error).
      const target = el("div", { class: "lab-status" });
      const title = root.querySelector(".lab-widget-title");
      root.replaceChildren(...(title ? [title, target] : [target]));
      showError(target, error);
    });
  }

  // -- next-token explorer -------------------------------------------------------------

  function slider(label, { min, max, step, value }) {
    const input = el("input", { type: "range", min, max, step, value });
    const output = el("output", {}, number(value));
    input.addEventListener("input", () => { output.textContent = number(input.value); });
    return { input, node: el("label", { class: "lab-control" }, el("span", {}, label), input, output) };
  }

  function nextTokenWidget(root) {
    const bar = el("div", { class: "lab-bar" });
    const prompt = el("textarea", { class: "input lab-input", rows: 2, maxlength: LIMITS.prompt, "aria-label": T.nt_prompt });
    prompt.value = root.dataset.prompt || root.dataset.text || "";
    const temperature = slider(T.nt_temperature, { min: 0, max: 2, step: 0.05, value: 1 });
    const topK = el("input", { type: "number", min: 0, max: 1000, step: 1, value: 0, class: "lab-number" });
    const topP = slider(T.nt_top_p, { min: 0.05, max: 1, step: 0.05, value: 1 });
    const controls = el("div", { class: "lab-controls" }, temperature.node,
      el("label", { class: "lab-control" }, el("span", {}, T.nt_top_k), topK), topP.node);
    const textBox = el("p", { class: "lab-text", "aria-live": "polite" });
    const list = el("ol", { class: "lab-candidates", "aria-label": T.nt_candidates });
    const sample = el("button", { type: "button", class: "btn btn-small btn-primary" }, T.nt_sample);
    const undo = el("button", { type: "button", class: "btn btn-small" }, T.nt_undo);
    const reset = el("button", { type: "button", class: "btn btn-small btn-ghost" }, T.nt_reset);
    const info = el("p", { class: "muted lab-small" });
    const status = el("div", { class: "lab-status" });
    root.append(bar, prompt, controls,
      el("div", { class: "lab-text-wrap" }, el("span", { class: "lab-label" }, T.nt_text), textBox),
      status, el("p", { class: "lab-subtitle" }, T.nt_candidates), list,
      el("div", { class: "lab-actions" }, sample, undo, reset), info, el("p", { class: "muted lab-small" }, T.nt_help));
    const request = latestOnly();
    let picker = null;
    let picks = [];
    let sampled = null;

    function pick(token) {
      if (picks.length >= (LIMITS.picks || 64)) return;
      picks.push(token.token_id);
      refresh();
    }

    function drawText(data) {
      const prefix = data.text.slice(0, data.text.length - data.continuation.length);
      textBox.replaceChildren(el("span", { class: "lab-text-prompt" }, prefix),
        el("mark", { class: "lab-text-picked" }, data.continuation), el("span", { class: "lab-caret", "aria-hidden": "true" }));
    }

    function drawCandidates(data) {
      const full = picks.length >= (LIMITS.picks || 64);
      list.replaceChildren(...data.candidates.map((token, index) => {
        const label = tokenLabel(token);
        const button = el("button", { type: "button", class: "btn btn-small lab-pick", disabled: full,
          "aria-label": t("nt_pick_label", { token: label }) }, T.nt_pick);
        button.addEventListener("click", () => pick(token));
        const fill = el("span", { class: "lab-bar-fill" });
        fill.style.width = Math.max(0.5, token.probability * 100) + "%";
        const raw = el("span", { class: "lab-bar-raw", title: t("nt_raw", { p: percent(token.raw_probability) }) });
        raw.style.left = Math.min(100, token.raw_probability * 100) + "%";
        return el("li", { class: "lab-cand" + (token.token_id === data.sampled.token_id ? " is-sampled" : "") },
          button,
          el("span", { class: "lab-token c" + (index % TOKEN_COLOURS) + (token.partial ? " partial" : ""),
            title: "id " + token.token_id + " · " + token.bytes }, el("span", { class: "lab-token-text" }, label)),
          el("span", { class: "lab-bar-track" }, fill, raw),
          el("span", { class: "lab-prob" }, percent(token.probability)),
          el("span", { class: "lab-prob-raw muted" }, t("nt_raw", { p: percent(token.raw_probability) })));
      }));
      const notes = [t("nt_kept", { kept: number(data.kept_tokens, 0), vocab: number(data.vocab_size, 0) })];
      if (Number(temperature.input.value) === 0) notes.push(T.nt_greedy);
      if (data.truncated) notes.push(t("nt_truncated", { n: data.context_tokens }));
      if (full) notes.push(T.nt_too_many);
      info.textContent = notes.join(" ");
      sample.disabled = full;
      undo.disabled = !picks.length;
      reset.disabled = !picks.length;
    }

    async function refresh() {
      if (!picker || !picker.code()) return;
      busy(root, true);
      try {
        const data = await request(URLS.next_token, {
          model: picker.code(), prompt: prompt.value, ids: picks.join(","),
          temperature: temperature.input.value, top_k: topK.value || 0,
          top_p: Number(topP.input.value) >= 1 ? "" : topP.input.value,
          k: 10, seed: Math.floor(Math.random() * 2147483647),
        });
        status.replaceChildren();
        sampled = data.sampled;
        drawText(data);
        drawCandidates(data);
      } catch (error) {
        showError(status, error);
      } finally {
        busy(root, false);
      }
    }

    const later = debounce(refresh, 150);
    prompt.addEventListener("input", debounce(() => { picks = []; refresh(); }, 300));
    [temperature.input, topP.input, topK].forEach((input) => input.addEventListener("input", later));
    sample.addEventListener("click", () => { if (sampled) pick(sampled); });
    undo.addEventListener("click", () => { picks.pop(); refresh(); });
    reset.addEventListener("click", () => { picks = []; refresh(); });
    loadModelsThen(root, bar, () => { picks = []; refresh(); }, null, (found) => { picker = found; refresh(); }, false);
  }

  // -- attention view -------------------------------------------------------------------

  function heat(weight) {
    // white -> the site's primary blue; a square root keeps small weights visible.
    const w = Math.sqrt(Math.max(0, Math.min(1, weight)));
    const r = Math.round(255 - (255 - 43) * w), g = Math.round(255 - (255 - 70) * w), b = Math.round(255 - (255 - 173) * w);
    return "rgb(" + r + "," + g + "," + b + ")";
  }

  function drawThumbnail(canvas, matrix) {
    const n = matrix.length;
    const size = canvas.width / n;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    matrix.forEach((row, i) => row.forEach((weight, j) => {
      context.fillStyle = j > i ? "#e3e6ee" : heat(weight);
      context.fillRect(j * size, i * size, Math.ceil(size), Math.ceil(size));
    }));
  }

  function heatmap(tokens, matrix, cell, caption) {
    const n = tokens.length;
    const labels = tokens.map(tokenLabel);
    // One picture for assistive technology; each cell's title carries its weight on hover.
    const grid = el("div", { class: "lab-heatmap", role: "img", "aria-label": caption });
    grid.style.gridTemplateColumns = "max-content repeat(" + n + ", " + cell + "px)";
    grid.append(el("span", { class: "lab-hm-corner" }));
    const labelClass = (i) => (tokens[i].partial ? " partial" : "");
    const labelTitle = (i) => (tokens[i].partial ? T.tok_partial_title + " · " + tokens[i].bytes : null);
    labels.forEach((label, j) => grid.append(el("span", { class: "lab-hm-col" + labelClass(j),
      title: labelTitle(j) }, label)));
    matrix.forEach((row, i) => {
      grid.append(el("span", { class: "lab-hm-row" + labelClass(i), title: labelTitle(i) }, labels[i]));
      row.forEach((weight, j) => {
        const masked = j > i;
        const box = el("span", { class: "lab-hm-cell" + (masked ? " masked" : ""),
          title: masked ? T.att_mask : t("att_cell", { from: labels[i], to: labels[j], w: number(weight, 3) }) });
        box.style.height = cell + "px";
        if (!masked) box.style.background = heat(weight);
        grid.append(box);
      });
    });
    return grid;
  }

  function attentionWidget(root) {
    const bar = el("div", { class: "lab-bar" });
    const input = el("input", { type: "text", class: "input lab-input", maxlength: LIMITS.attention, "aria-label": T.att_input });
    input.value = root.dataset.text || root.dataset.prompt || "";
    const layer = el("select", { class: "lab-select" });
    const head = el("select", { class: "lab-select" });
    const controls = el("div", { class: "lab-controls" },
      el("label", { class: "lab-control" }, el("span", {}, T.att_layer), layer),
      el("label", { class: "lab-control" }, el("span", {}, T.att_head), head));
    const thumbs = el("div", { class: "lab-thumbs", role: "group", "aria-label": T.att_heads });
    const map = el("div", { class: "lab-heatmap-wrap" });
    const legend = el("p", { class: "lab-legend muted lab-small" },
      el("span", { class: "lab-swatch lab-swatch-scale" }), " 0 → 1 " + T.att_scale + " ",
      el("span", { class: "lab-swatch masked" }), " " + T.att_mask);
    const note = el("p", { class: "muted lab-small" });
    const status = el("div", { class: "lab-status" });
    root.append(bar, input, controls, status, el("p", { class: "muted lab-small" }, T.att_rows), thumbs, map, legend, note);
    const request = latestOnly();
    let picker = null;
    let data = null;

    function options(select, count, label) {
      const keep = Math.min(Number(select.value) || 0, count - 1);
      select.replaceChildren(...Array.from({ length: count }, (_, i) => el("option", { value: i }, label + " " + (i + 1))));
      select.value = String(Math.max(0, keep));
    }

    function draw() {
      if (!data || !data.n_layer) return;
      const l = Number(layer.value), h = Number(head.value);
      thumbs.replaceChildren(...data.layers[l].map((matrix, index) => {
        const canvas = el("canvas", { width: 72, height: 72 });
        drawThumbnail(canvas, matrix);
        const button = el("button", { type: "button", class: "lab-thumb" + (index === h ? " is-selected" : ""),
          "aria-pressed": index === h ? "true" : "false" }, canvas, el("span", {}, T.att_head + " " + (index + 1)));
        button.addEventListener("click", () => { head.value = String(index); draw(); });
        return button;
      }));
      const n = data.tokens.length;
      const width = map.clientWidth || root.clientWidth || 600;
      const cell = Math.max(14, Math.min(34, Math.floor((width - 120) / Math.max(1, n))));
      const caption = T.att_title + ": " + T.att_layer + " " + (l + 1) + ", " + T.att_head + " " + (h + 1);
      map.replaceChildren(heatmap(data.tokens, data.layers[l][h], cell, caption));
      note.textContent = data.truncated ? t("att_truncated", { n }) : "";
    }

    async function refresh() {
      if (!picker || !picker.code()) return;
      busy(root, true);
      try {
        data = await request(URLS.attention, { model: picker.code(), text: input.value });
        status.replaceChildren();
        options(layer, data.n_layer, T.att_layer);
        options(head, data.n_head, T.att_head);
        draw();
      } catch (error) {
        showError(status, error);
      } finally {
        busy(root, false);
      }
    }

    input.addEventListener("input", debounce(refresh, 300));
    layer.addEventListener("change", draw);
    head.addEventListener("change", draw);
    window.addEventListener("resize", debounce(draw, 200));
    loadModelsThen(root, bar, refresh, null, (found) => { picker = found; refresh(); }, false);
  }

  // -- my run's loss --------------------------------------------------------------------

  function niceTicks(low, high, count) {
    if (!(high > low)) return [low];
    const raw = (high - low) / Math.max(1, count - 1);
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
    const ticks = [];
    for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) ticks.push(Number(value.toFixed(10)));
    return ticks;
  }

  // options (the learning-rate chart): series [[key, field], ...], fromZero (the y axis starts at 0),
  // format (tick labels), title, bestLabel (the marker's label).
  function lossChart(history, marker, options) {
    const opts = options || {};
    const format = opts.format || ((value) => number(value));
    const width = 640, height = 260, left = 52, right = 16, top = 14, bottom = 34;
    const series = (opts.series || [["train", "train_loss"], ["val", "val_loss"]]).map(([key, field]) => ({
      key, points: history.filter((p) => p[field] !== null && p[field] !== undefined).map((p) => [p.step, p[field]]),
    })).filter((s) => s.points.length);
    const all = series.flatMap((s) => s.points);
    let xMin = Math.min(...all.map((p) => p[0])), xMax = Math.max(...all.map((p) => p[0]));
    if (xMax === xMin) xMax = xMin + 1;
    let yMin = Math.min(...all.map((p) => p[1])), yMax = Math.max(...all.map((p) => p[1]));
    if (opts.fromZero) {
      yMin = 0;
      yMax = yMax * 1.08 || 1;
    } else {
      const margin = (yMax - yMin) * 0.08 || 0.5;
      yMin = Math.max(0, yMin - margin);
      yMax += margin;
    }
    const px = (x) => left + (x - xMin) / (xMax - xMin) * (width - left - right);
    const py = (y) => top + (1 - (y - yMin) / (yMax - yMin)) * (height - top - bottom);
    const chart = svg("svg", { viewBox: "0 0 " + width + " " + height, class: "lab-loss-chart", role: "img" },
      svg("title", {}, opts.title || T.loss_title));
    niceTicks(yMin, yMax, 5).forEach((tick) => {
      chart.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: py(tick), y2: py(tick) }),
        svg("text", { x: left - 6, y: py(tick), "text-anchor": "end", "dominant-baseline": "middle" }, format(tick)));
    });
    niceTicks(xMin, xMax, 6).forEach((tick) => {
      chart.append(svg("text", { x: px(tick), y: height - bottom + 16, "text-anchor": "middle" }, number(tick, 0)));
    });
    chart.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }),
      svg("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }),
      svg("text", { class: "axis-title", x: width - right, y: height - 2, "text-anchor": "end" }, T.loss_step));
    if (marker !== null) {
      chart.append(svg("line", { class: "marker", x1: px(marker), x2: px(marker), y1: top, y2: height - bottom }),
        svg("text", { class: "marker-label", x: px(marker) + 4, y: top + 10 }, (opts.bestLabel || T.loss_best) + " (" + number(marker, 0) + ")"));
    }
    series.forEach((s) => {
      if (s.points.length === 1) {
        chart.append(svg("circle", { class: "series-" + s.key, cx: px(s.points[0][0]), cy: py(s.points[0][1]), r: 3 }));
      } else {
        chart.append(svg("polyline", { class: "series-" + s.key, points: s.points.map((p) => px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1)).join(" ") }));
      }
    });
    return chart;
  }

  function runLossWidget(root) {
    const status = el("div", { class: "lab-status" });
    const body = el("div", { class: "lab-loss-body" }, status);
    root.append(body);
    busy(root, true);
    const params = root.dataset.run ? { run: root.dataset.run } : {};
    api(URLS.my_run_loss, params).then((data) => {
      if (!data.run) {
        body.replaceChildren(el("p", { class: "lab-notice" }, T.loss_none + " ",
          el("a", { class: "btn btn-small btn-primary", href: URLS.new_run }, T.train_quick)));
        return;
      }
      const run = data.run;
      const title = t("loss_run", { name: run.name, status: run.status_label });
      const heading = el("p", { class: "lab-run-name" }, run.url ? el("a", { href: run.url }, title) : title);
      const parts = [heading];
      if (!run.is_own) parts.push(el("p", { class: "lab-notice" }, T.loss_demo + " ",
        el("a", { class: "btn btn-small", href: URLS.new_run }, T.train_quick)));
      if (data.history.length) {
        const observation = data.observation || {};
        const marker = ["overfitting", "unstable"].includes(observation.code) ? observation.params.step : null;
        // An instruction run's held-out loss is measured on answers only: named so.
        const answers = Boolean(run.is_instruction);
        parts.push(el("figure", { class: "lab-loss" },
          lossChart(data.history, marker, { bestLabel: answers ? T.loss_best_answers : T.loss_best }),
          el("figcaption", { class: "lab-legend" },
            el("span", { class: "lab-legend-train" }, T.loss_train),
            el("span", { class: "lab-legend-val" }, answers ? T.loss_val_answers : T.loss_val))));
      }
      // {{ lab:my-run-loss show="lr" }}: the learning rate of every history point, under the loss.
      const lrPoints = root.dataset.show === "lr" ? data.history.filter((p) => p.lr !== null && p.lr !== undefined) : [];
      if (lrPoints.length) {
        parts.push(el("figure", { class: "lab-loss lab-lr" },
          lossChart(lrPoints, null, { series: [["lr", "lr"]], fromZero: true, title: T.loss_lr,
            format: (value) => (value === 0 ? "0" : value.toExponential(1)) }),
          el("figcaption", { class: "lab-legend" }, el("span", { class: "lab-legend-lr" }, T.loss_lr))));
      }
      if (data.bpc) parts.push(el("p", { class: "lab-bpc" }, t("loss_bpc", { first: data.bpc.first, last: data.bpc.last })));
      if (data.observation) {
        parts.push(el("p", { class: "lab-observation lab-observation-" + data.observation.code, role: "note" }, data.observation.text));
      }
      body.replaceChildren(...parts);
    }).catch((error) => showError(status, error)).finally(() => busy(root, false));
  }

  // -- chat template and loss mask --------------------------------------------------------

  // Presets: [system, user, assistant]; a lesson's own conversation (data-user, data-assistant,
  // data-system) comes first when it has one.
  function chatPresets(root) {
    const presets = [];
    if (root.dataset.user || root.dataset.assistant) {
      presets.push({ key: "lesson", label: T.chat_preset_qa,
        messages: [root.dataset.system || "", root.dataset.user || "", root.dataset.assistant || ""] });
    } else {
      presets.push({ key: "qa", label: T.chat_preset_qa, messages: ["", T.chat_qa_user, T.chat_qa_assistant] });
    }
    presets.push({ key: "system", label: T.chat_preset_system,
      messages: [T.chat_system_system, T.chat_system_user, T.chat_system_assistant] });
    return presets;
  }

  function chatChip(token) {
    const label = token.counts ? token.id : -100;
    const title = t("chat_token_title", { id: token.id, label }) + " · " + token.bytes
      + (token.partial ? " · " + T.tok_partial_title : "");
    return el("span", { class: "lab-token lab-chat-token " + (token.counts ? "counts" : "masked")
        + (token.special ? " special" : "") + (token.partial ? " partial" : ""),
      title, "data-counts": token.counts ? "1" : "0", "data-role": token.role },
      el("span", { class: "lab-token-text" }, tokenLabel(token)),
      el("span", { class: "lab-token-meta" }, String(token.id)));
  }

  function chatTemplateWidget(root) {
    const presets = chatPresets(root);
    const preset = el("select", { class: "lab-select lab-chat-preset" },
      presets.map((p) => el("option", { value: p.key }, p.label)),
      el("option", { value: "custom" }, T.chat_preset_custom));
    const fields = ["system", "user", "assistant"].map((role) => {
      const input = el("textarea", { class: "input lab-input lab-chat-" + role, rows: 1,
        maxlength: LIMITS.chat_message, "data-role": role });
      return { role, input, node: el("label", { class: "lab-chat-field" },
        el("span", { class: "lab-chat-role" }, T["chat_" + role]), input) };
    });
    const rendered = el("pre", { class: "lab-chat-rendered" });
    const count = el("p", { class: "lab-tok-count lab-chat-count", "aria-live": "polite" });
    const tokens = el("div", { class: "lab-tokens lab-chat-tokens" });
    const legend = el("p", { class: "lab-legend lab-chat-legend lab-small" },
      ["counts", "masked", "special"].map((kind) => el("span", { class: "lab-chat-legend-item" },
        el("span", { class: "lab-swatch lab-chat-swatch " + kind }), " " + T["chat_legend_" + kind])));
    const vocab = el("p", { class: "muted lab-small" });
    // GPT-2's tokenizer by default; a student's own models are offered once the list arrives.
    const tokenizer = el("select", { class: "lab-select lab-chat-tokenizer" }, el("option", { value: "" }, T.chat_tok_gpt2));
    const tokenizerControl = el("label", { class: "lab-control", hidden: true }, el("span", {}, T.chat_tok_choice), tokenizer);
    const status = el("div", { class: "lab-status" });
    root.append(el("div", { class: "lab-controls" },
      el("label", { class: "lab-control" }, el("span", {}, T.chat_preset), preset), tokenizerControl),
      el("div", { class: "lab-chat-fields" }, fields.map((f) => f.node)), status,
      el("p", { class: "lab-subtitle" }, T.chat_rendered), rendered, count, tokens, legend,
      el("p", { class: "muted lab-small" }, T.chat_help), vocab);
    let controller = null;

    function fill(key) {
      const chosen = presets.find((p) => p.key === key);
      if (!chosen) return;
      fields.forEach((f, index) => { f.input.value = chosen.messages[index]; });
    }

    async function refresh() {
      if (document.getElementById("lab-visitor")) {
        showError(status, new ApiError(401, "login_required", T.login_required));
        return;
      }
      if (controller) controller.abort();
      controller = new AbortController();
      busy(root, true);
      try {
        const params = {};
        fields.forEach((f) => { params[f.role] = f.input.value; });
        params.model = tokenizer.value;
        const data = await api(URLS.chat_template, params, controller.signal, "POST");
        status.replaceChildren();
        rendered.textContent = data.text;
        count.replaceChildren(el("strong", {}, t("chat_count", { count: number(data.count, 0), counted: number(data.counted, 0) })));
        tokens.replaceChildren(...data.tokens.map(chatChip));
        const size = number(data.vocab_size, 0);
        vocab.textContent = data.tokenizer.key === "run"
          ? t("chat_tokenizer_run", { name: data.tokenizer.name, vocab: size }) + " "
            + (data.chat_tokens_added ? T.chat_tokens_added : T.chat_tokens_own)
          : t("chat_tokenizer", { vocab: size });
      } catch (error) {
        showError(status, error);
      } finally {
        busy(root, false);
      }
    }

    const later = debounce(refresh, 250);
    fields.forEach((f) => f.input.addEventListener("input", () => { preset.value = "custom"; later(); }));
    preset.addEventListener("change", () => { fill(preset.value); refresh(); });
    tokenizer.addEventListener("change", refresh);
    fill(presets[0].key);
    refresh();
    loadModels().then((data) => {
      data.models.forEach((model) => tokenizer.append(el("option", { value: model.code }, modelName(model))));
      tokenizerControl.hidden = !data.models.length;
    }).catch(() => {});  // a visitor or a failed list: GPT-2's tokenizer still works
  }

  // -- start -----------------------------------------------------------------------------

  const WIDGETS = { "tokenizer": tokenizerWidget, "next-token": nextTokenWidget, "attention": attentionWidget, "my-run-loss": runLossWidget,
    "chat-template": chatTemplateWidget };

  function hydrate() {
    document.querySelectorAll(".lab-embed[data-lab]").forEach((root) => {
      const widget = WIDGETS[root.dataset.lab];
      if (!widget || root.dataset.labReady) return;
      root.dataset.labReady = "1";
      root.replaceChildren();
      root.classList.add("lab-widget", "lab-" + root.dataset.lab);
      if (!root.classList.contains("lab-full")) {
        const titles = { "tokenizer": T.tok_title, "next-token": T.nt_title, "attention": T.att_title, "my-run-loss": T.loss_title,
          "chat-template": T.chat_title };
        root.append(el("p", { class: "lab-widget-title" }, el("span", { class: "lab-kicker" }, T.lab), " " + titles[root.dataset.lab],
          el("a", { class: "lab-open", href: URLS.lab + "#" + root.dataset.lab }, T.open_lab)));
      }
      widget(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", hydrate);
  else hydrate();
})();
