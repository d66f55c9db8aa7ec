from tests.webhooks.receivers import receiver, receiver_server  # noqa: F401  (fixtures)
