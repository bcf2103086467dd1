"""Domain services. Nothing here imports Chalice or knows about HTTP."""
