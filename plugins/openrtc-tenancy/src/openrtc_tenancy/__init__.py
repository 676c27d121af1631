"""Per-tenant isolation for OpenRTC: tenant identity, caps and a circuit breaker per tenant."""
