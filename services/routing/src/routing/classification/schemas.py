"""HTTP shapes describing the text classifier."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ClassifierRead(BaseModel):
    """Which classifier model is in force, if any."""

    loaded: bool = Field(
        description="whether a model is in force; without one, petitions without a category go to "
        "the petition office"
    )
    path: str | None = Field(
        description="configured model file (ROUTING_CLASSIFIER_MODEL_PATH); null when none"
    )
    labels: list[str] = Field(description="categories the model can predict")
    trained_at: datetime | None = Field(description="when the model in force was trained")
    training_rows: int | None = Field(description="how many labelled texts it was trained on")
    min_confidence: float = Field(description="confidence at or above which routing goes by a prediction")
    last_error: str | None = Field(
        description="why the latest change of the file was not loaded, if it was not"
    )
