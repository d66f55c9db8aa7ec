import uuid

from app.core.context import Ctx


async def campaign_for_utm(ctx: Ctx, utm_campaign: str | None) -> uuid.UUID | None:
    return None
