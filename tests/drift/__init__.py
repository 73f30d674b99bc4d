"""Tests that fail when a library our code mirrors changes under it.

Where our code copies a library's wording or behaviour for speed (pydantic-ai's agent loop
and OpenAI model, SQLAlchemy's SQLite storage formats, httpx2's proxy rules), these run the
library's own code path beside ours and compare. pyproject.toml pins each such library to
the range these tests last passed on; a failure here after an upgrade says which copy to
bring up to date before widening the pin.
"""
