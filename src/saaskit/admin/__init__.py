"""The admin web pages at ``/admin`` (Jinja2, htmx, a vendored Chart.js); see docs/admin.md."""
