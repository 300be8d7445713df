"""Merging customers: the merge preview, merge and unmerge, and the review of identity conflicts
(pairs the resolver linked but would not merge), with their console pages."""
