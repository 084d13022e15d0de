from cf_agent.cli import main

main()
