from tests.webhooks.receivers import listener, receiver, receiver_server  # noqa: F401  (fixtures)
