"""REST API v1: projects, members, labels, items, import jobs, tokens and the caller.

Each method validates input with a small serializer, calls one service, and shapes the output.

Who gets what (see `projects/api/permissions.py`):
- anonymous: 401 everywhere;
- a project the caller is not a member of does not exist for them: 404, for the project and for
  everything under it, so an id never confirms that a project exists;
- a member without the role an action needs (a rater writing): 403;
- superusers are leads of every project; staff status alone grants nothing here.
"""
