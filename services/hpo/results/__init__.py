"""Results: a sweep's status from its live workflow or its record, the terminal leaderboard,
the HTML report, the export to trackers and the warm start. They read; they never steer."""
