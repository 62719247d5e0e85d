"""Zero-code capture of predict-like calls, one module per supported library.

Each module's ``install(module)`` runs from ``modeltel.agent.activation`` through
``when_imported`` once the library is imported, never before: a process that does not
import a library pays nothing for its support.
"""
