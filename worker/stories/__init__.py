"""Story clustering: every processed article joins an existing story or starts a new one.

Public contract (see `worker.stories.service`):
``StoryClusterer.from_settings(settings).assign(conn, StoryInput(...), now) -> StoryDecision``.
Scoring is pure (`worker.stories.scoring`); store access is in `worker.stories.assign`.
"""
