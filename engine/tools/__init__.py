"""Tools over a flow set that any project on the engine can use: diagrams of the flows
(`diagrams`), YAML dialog scenarios (`scenarios`) and hot reload of flows and templates
(`reload`). They take what they need from the project as arguments (folders, how to build
an engine or a flow set); the project's CLI and jobs are thin wrappers over them.
"""
