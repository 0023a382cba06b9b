# Entry point: the workflow lives in workflow/Snakefile (see README.md, "Reproduce the papers").
include: "workflow/Snakefile"
