from variantly.cli import main

main()
