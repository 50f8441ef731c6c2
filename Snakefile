from snakemake.utils import min_version

min_version("9.0")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/fetch.smk"
include: "rules/probe.smk"
include: "rules/prepare.smk"
include: "rules/sample.smk"
include: "rules/embed.smk"
include: "rules/distance.smk"
include: "rules/noise.smk"
include: "rules/report.smk"
include: "rules/decisions.smk"


# cheap, on the submitting node (no cluster job): see profiles/slurm
localrules:
    distance_matrix,
    cross_distance_matrix,
    noise_floor,
    diversity_report,
    alignment_report,
    downstream_report,
    baselines_report,
    selection_report,
    sweep_report,


# every report the config asks for: the outputs of the report rules it switches on
rule all:
    default_target: True
    input:
        rules.diversity_report.output,
        rules.sweep_report.output if SWEEPS else [],
        rules.alignment_report.output if ALIGNMENT else [],
        rules.downstream_report.output if DOWNSTREAM else [],
        rules.baselines_report.output if BASELINES else [],
        rules.selection_report.output if SELECTION else [],
