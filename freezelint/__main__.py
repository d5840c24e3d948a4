from freezelint.cli import main

# prog_name: usage lines and shell completion (_FREEZELINT_COMPLETE) match the installed command
main(prog_name="freezelint")
