"""The training recipe every command that trains runs (`ptt train`, every arm of `ptt transfer compare`): a start
resolved before setup (`start`), typed loop state (`state`), and setup / train / save / cleanup (`train`). Commands
call it; it never imports a command."""
