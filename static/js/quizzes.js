// Quiz page enhancements (the form works without them): an "answered N of M" counter and a
// guard against double submission. Grading happens on the server; this file knows no answers.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector(".quiz-form");
  if (!form) return;
  const questions = form.querySelectorAll(".quiz-question");
  const progress = form.querySelector("[data-quiz-progress]");

  const update = () => {
    const done = Array.from(questions).filter((q) => q.querySelector("input:checked")).length;
    progress.textContent = progress.dataset.quizProgress.replace("{done}", done).replace("{total}", questions.length);
    progress.hidden = false;
    questions.forEach((q) => q.classList.toggle("is-answered", Boolean(q.querySelector("input:checked"))));
  };
  if (progress) {
    form.addEventListener("change", update);
    update();
  }

  let sent = false;
  form.addEventListener("submit", (event) => {
    if (sent) {
      event.preventDefault();
      return;
    }
    sent = true;
    form.querySelectorAll("button[type=submit]").forEach((button) => button.setAttribute("aria-disabled", "true"));
  });
  // Coming back with the Back button restores the page from cache: make it usable again.
  window.addEventListener("pageshow", () => {
    sent = false;
    form.querySelectorAll("button[type=submit]").forEach((button) => button.removeAttribute("aria-disabled"));
  });
});
