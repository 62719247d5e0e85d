from modeltel.cli import main

main()
