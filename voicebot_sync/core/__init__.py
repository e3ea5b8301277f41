"""The pure core: the model, templates, schedules, the Plan and the planner. No files, no network, no clock."""
