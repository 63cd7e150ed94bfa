"""What a teacher would say about a loss curve: the run page's overfitting warning and the
lab's "my run's loss" explorer read a run's history (a list of evaluation points) here."""
import math

from django.utils.translation import gettext as _


def _points(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(p["step"]), float(p[key])) for p in history
            if p.get(key) is not None and math.isfinite(float(p[key]))]


FLAT_POINTS = 3  # a plateau is this many evaluations in a row within the tolerance


def loss_observation(history: list[dict]) -> dict:
    """What a teacher would say about a loss curve: {"code", "params"}.

    overfitting: validation loss rose after its best step while training loss kept falling;
    unstable: both rose; still_falling: the latest evaluation still improved (train longer);
    plateau: the last FLAT_POINTS evaluations are flat; levelling_off: the last one did not
    improve, but too few are flat to call it a plateau; too_few_points: fewer than two."""
    train, val = _points(history, "train_loss"), _points(history, "val_loss")
    if len(val) < 2:
        return {"code": "too_few_points", "params": {"points": len(val)}}
    best_step, best = min(val, key=lambda point: (point[1], point[0]))
    last_step, last = val[-1]
    tolerance = max(0.01, 0.01 * abs(best))
    if best_step != last_step and last - best > tolerance:
        before = [loss for step, loss in train if step <= best_step]
        train_at_best = before[-1] if before else (train[0][1] if train else None)
        train_fell = train_at_best is not None and train[-1][1] < train_at_best - tolerance / 2
        code = "overfitting" if train_fell else "unstable"
        return {"code": code, "params": {"step": best_step, "best": round(best, 3), "last": round(last, 3),
                                         "last_step": last_step}}
    if val[-2][1] - last > tolerance / 2:
        return {"code": "still_falling", "params": {"from": round(val[0][1], 3), "last": round(last, 3),
                                                    "last_step": last_step}}
    recent = [loss for _, loss in val[-FLAT_POINTS:]]
    if len(recent) == FLAT_POINTS and max(recent) - min(recent) <= tolerance:
        return {"code": "plateau", "params": {"last": round(last, 3), "last_step": last_step,
                                              "points": FLAT_POINTS}}
    return {"code": "levelling_off", "params": {"last": round(last, 3), "last_step": last_step}}


def observation_text(observation: dict, *, instruction: bool = False) -> str:
    """The observation in words. An instruction run's held-out loss is measured on answers only,
    and is named so (as on its progress page)."""
    params = {**observation["params"],
              "loss": _("Held-out loss on answers") if instruction else _("Validation loss")}
    texts = {
        "too_few_points": _("Too few validation points to judge yet: train for more steps and look again."),
        "overfitting": _("%(loss)s rose after step %(step)s (from %(best)s to %(last)s) while training "
                         "loss kept falling: the model started to memorise its training text (overfitting). "
                         "The checkpoint from step %(step)s would generalise best."),
        "unstable": _("Both losses rose after step %(step)s: training became unstable. A lower learning rate "
                      "would probably help."),
        "still_falling": _("%(loss)s was still falling at the end (from %(from)s to %(last)s): train "
                           "longer. More steps will probably make the model better."),
        "plateau": _("%(loss)s has been flat for the last %(points)s evaluations, at %(last)s: more steps "
                     "alone will not help much. More text or a larger model might."),
        "levelling_off": _("%(loss)s did not improve at the last evaluation (%(last)s): it may be levelling "
                           "off. Training a little longer would show whether it has reached a plateau."),
    }
    return texts[observation["code"]] % params


def bpc_summary(history: list[dict]) -> dict | None:
    """Bits per character of held-out text at the first and the latest evaluation."""
    points = _points(history, "val_bpc")
    if not points:
        return None
    return {"first": round(points[0][1], 3), "last": round(points[-1][1], 3),
            "best": round(min(loss for _, loss in points), 3)}
