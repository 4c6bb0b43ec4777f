# Every figure of the figure registry (hcxai.figures.registry), drawn by one rule.


wildcard_constraints:
    figure="|".join(FIGURES),


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(
            result("figure"),
            caption="../report/figure.rst",
            category=lambda w: FIGURES[w.figure].category,
        ),
    log:
        "logs/figures/{figure}.log",
    conda:
        "../../envs/workflow.yaml"
    params:
        # The figure's caption (workflow/report/figures/{figure}.rst, in the HTML report)
        # and the settings it draws with; a change redraws that figure only.
        caption=lambda w: (HCXAI_ROOT / f"workflow/report/figures/{w.figure}.rst").read_text(),
        settings=job_settings(draw=lambda w: FIGURES[w.figure].settings(config)),
    script:
        "../scripts/figure.py"
