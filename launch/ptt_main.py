"""Entry point for the `deepspeed` launcher: `deepspeed [launcher args] launch/ptt_main.py train ...`.

The same as the `ptt` console script; a plain Python file, so the launcher can start it as
`python -u launch/ptt_main.py --local_rank=N ...` on every node.
"""

from ptt.cli import main

if __name__ == "__main__":
    main()
