// placeholder until the TranscodingService library lands
