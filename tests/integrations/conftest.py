from tests.integrations.platforms import graph, graph_server  # noqa: F401  (fixtures)
