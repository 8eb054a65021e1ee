"""Relations between mentions: the ``relations`` stage links drugs to the problems they treat
or cause and tests to the problems they reveal ("metoprolol for afib", "CT showed PE")."""
