"""HTTP layer: one blueprint per API area. Handlers parse, authorise, call a service, serialise."""
