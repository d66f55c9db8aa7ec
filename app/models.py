"""Imports every domain's models so Base.metadata knows all tables (alembic, tests)."""


def load_all_models() -> None:
    import app.accounts.models
    import app.activities.models
    import app.assignment.models
    import app.auth.models
    import app.automations.models
    import app.campaigns.models
    import app.contacts.models
    import app.core.events
    import app.core.files
    import app.core.history
    import app.core.idempotency
    import app.core.tenancy
    import app.custom_fields.models
    import app.deals.models
    import app.duplicates.models
    import app.emails.models
    import app.exports.models
    import app.forms.models
    import app.imports.models
    import app.intake.models
    import app.integrations.models
    import app.leads.models
    import app.notifications.models
    import app.pipelines.models
    import app.users.models
    import app.webhooks.models  # noqa: F401
