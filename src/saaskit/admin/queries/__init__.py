"""Read models of the admin pages.

Writes always go through the owning domain's service; these modules only read, with indexed,
limited queries (every list is paginated or capped; event tables are read through a time bound
so partition pruning applies). They read other domains' tables directly because a screen needs
joins no single service offers; nothing here changes a row.
"""
