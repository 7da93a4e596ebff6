"""Contracts: what users write (the sweep spec, settings) and what crosses a process or
Temporal boundary (messages, activity stubs, search attributes, the task catalog). Pydantic
models and names only: nothing here does I/O or imports a layer further out."""
