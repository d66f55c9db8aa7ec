from tests.integrations.platforms import graph, graph_server, workspace  # noqa: F401  (fixtures)
