"""The admin's own pages, one module per family: plain functions taking the ModelAdmin that wires
them (``ModelAdmin.get_urls``, through ``admin_site.admin_view``) and the request. Each parses its
input, checks the permission, calls a selector or a service, and renders the result."""
