"""一括処理の状況: the runs on the task engine (docs/batch.md) — the daily 資格確認書 run, the linkage check of a
resident-registry extract, the analytics export and the mailing runs — with their progress gathered from every
worker, the units that failed (which worker, why) and what to do about it.

For the insurer's supervisors and the operator (admin); the page shows run keys, counts and unit-level errors only,
never a person's data, so it reads no person and writes no audit row.  ``/office/batch/progress.json`` is what the
page polls while a run is running.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.store import batch
from onshi.web.pages.common import jst, render

router = APIRouter(include_in_schema=False, prefix="/office/batch")
Operator = Annotated[WebUser, Depends(require("supervisor", "admin"))]

KIND_LABELS = {"daily": "資格確認書の日次作成", "linkage": "住基との紐付け確認", "export": "分析データの書き出し",
               "mailing": "資格情報のお知らせ等の一斉送付", "national": "全国リストの取込"}
STATE_LABELS = {"running": "実行中", "done": "完了", "failed": "中断"}
UNIT_STATE_LABELS = {"done": "完了", "failed": "失敗", "retry": "再送済み"}
#: What the operator does next, by the run's state (docs/batch.md "When a run fails").
ADVICE = {"failed": "原因（ブローカー停止・ワーカー不在など）を取り除き、同じ実行をもう一度開始すると、終わっていない単位だけが再実行されます。"}


def _summary(v: batch.RunView) -> dict:
    r = v.run
    return {"run_key": r.run_key, "kind": KIND_LABELS.get(r.kind, r.kind), "state": r.state,
            "state_label": STATE_LABELS.get(r.state, r.state), "units": r.units, "done": v.done,
            "failed": v.failed, "pending": v.pending, "count": v.items, "attempt": r.attempt,
            "started_by": r.started_by, "started_at": jst(r.started_at), "finished_at": jst(r.finished_at),
            "reason": r.reason or ""}


@router.get("")
def runs_page(request: Request, user: Operator, session: DB,
              kind: Annotated[str | None, Query(max_length=20)] = None):
    runs = [_summary(v) for v in batch.recent_runs(session, kind=kind or None)]
    return render(request, "office/batch.html", {"user": user, "runs": runs, "kinds": KIND_LABELS, "kind": kind,
                                                  "live": any(r["state"] == "running" for r in runs)})


@router.get("/progress.json")
def runs_progress(user: Operator, session: DB):
    return JSONResponse([_summary(v) for v in batch.recent_runs(session)], headers={"Cache-Control": "no-store"})


@router.get("/run/{run_key:path}")
def run_page(request: Request, user: Operator, session: DB, run_key: Annotated[str, Path(max_length=160)]):
    found = batch.run_view(session, run_key)
    if found is None:
        return render(request, "office/not_found.html", {"user": user, "what": "一括処理"}, status_code=404)
    view, units = found
    rows = [{"unit": u.unit, "state": UNIT_STATE_LABELS.get(u.state, u.state), "failed": u.state == "failed",
             "count": u.items, "worker": u.worker, "finished_at": jst(u.finished_at, "%Y-%m-%d %H:%M:%S"),
             "errors": [str(f.get("error", ""))[:300] for f in (u.failures or []) if isinstance(f, dict)]}
            for u in units]
    return render(request, "office/batch_run.html", {"user": user, "run": _summary(view), "units": rows,
                                                      "advice": ADVICE.get(view.run.state, "")})
