"""``/v1/classifier``: the text classifier model in force."""

from __future__ import annotations

from fastapi import APIRouter

from routing.classification.schemas import ClassifierRead
from routing.deps import StateDep

router = APIRouter(prefix="/v1/classifier", tags=["classifier"])


@router.get("", summary="The text classifier model in force, if any")
async def classifier_info(state: StateDep) -> ClassifierRead:
    """Whether a model is loaded, its labels, when it was trained and where it is read from."""
    watcher = state.classifier
    model = watcher.current
    return ClassifierRead(
        loaded=model is not None,
        path=str(watcher.path) if watcher.path is not None else None,
        labels=list(model.labels) if model else [],
        trained_at=model.trained_at if model else None,
        training_rows=model.rows if model else None,
        min_confidence=state.min_confidence,
        last_error=watcher.last_error,
    )
