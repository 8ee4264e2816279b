from .sweep import GRIDS, aggregate, apply_param, expand_grid, plot_sweep, read_rows, rows_to_csv, summary_markdown

__all__ = ['GRIDS', 'aggregate', 'apply_param', 'expand_grid', 'plot_sweep', 'read_rows', 'rows_to_csv',
           'summary_markdown']
