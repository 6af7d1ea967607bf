import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsNumber, IsString, Max, MaxLength, Min } from 'class-validator';

/** `?a=…&b=…` of GET /sum and GET /divide. */
export class OperandsQuery {
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  a!: number;

  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  b!: number;
}

/** `:n` of GET /count/:n. */
export class CountParams {
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  n!: number;
}

/** Body of POST /notify. */
export class NotifyDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  to!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(280)
  text!: string;
}
