"""Survey campaigns: deadlines, reminders, recurrence (see :mod:`bot.campaigns.schedule`)."""
