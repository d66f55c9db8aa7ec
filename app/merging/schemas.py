import uuid

from pydantic import Field

from app.core.limits import RECORDS_PER_MERGE
from app.core.schemas import InputModel


class MergeRecords(InputModel):
    """Which record lives on, which ones merge into it, and whose value wins where."""

    example = {
        "survivor_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "merged_ids": ["01936f4e-9b5c-7c3d-9e2f-1a2b3c4d5e70"],
        "fields": {
            "email": "01936f4e-9b5c-7c3d-9e2f-1a2b3c4d5e70",
            "custom_fields.dong_xe": "01936f4e-9b5c-7c3d-9e2f-1a2b3c4d5e70",
        },
    }

    survivor_id: uuid.UUID = Field(description="The record that lives on.")
    merged_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=RECORDS_PER_MERGE,
        description=f"The records merged into the survivor (1 to {RECORDS_PER_MERGE}, "
        "distinct, not the survivor): they are deleted, remembering it as `merged_into_id`.",
    )
    fields: dict[str, uuid.UUID] = Field(
        default_factory=dict,
        max_length=200,
        description="Per field (`custom_fields.<key>` for a custom field), the record among "
        "the merge whose value the survivor takes. A field not named keeps the survivor's "
        "value, unless it is blank: then the first merged record's (in `merged_ids` order) "
        "that is not. `tags` are not chosen: the survivor carries every record's.",
    )
