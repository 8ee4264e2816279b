from .sweep import (GRIDS, PRESETS, aggregate, apply_param, class_split, expand_grid, k_curve, nested_variance,
                    paired_differences, paired_summary, plot_class_iou, plot_k, plot_paired, plot_sweep, read_rows,
                    rows_to_csv, summary_markdown, t_interval)

__all__ = ['GRIDS', 'PRESETS', 'aggregate', 'apply_param', 'class_split', 'expand_grid', 'k_curve',
           'nested_variance', 'paired_differences', 'paired_summary', 'plot_class_iou', 'plot_k', 'plot_paired',
           'plot_sweep', 'read_rows', 'rows_to_csv', 'summary_markdown', 't_interval']
